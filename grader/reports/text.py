"""Text and names for the reports: every string a student could influence passes through here.

Jinja autoescapes everything; this module removes what escaping cannot (ANSI codes, control
characters, lone surrogates), bounds lengths, and turns hostile ids into safe file names.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from typing import Any

from grader.models import Outcome, Status

EXCERPT_LIMIT = 4000  # characters of student output shown per assignment
MESSAGE_LIMIT = 2000  # characters of one message (test failure, cell error value)

_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# ANSI colour codes: IPython tracebacks are full of them and they are noise in HTML.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# C0 controls other than tab, newline and carriage return are not allowed in HTML.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def page_name(key: str) -> str:
    """A file name for a page: a readable slug plus a hash of the exact key.

    The hash keeps ids that slug alike ("a/b", "a_b", "A_B" on a case-insensitive
    disk) apart; the slug alphabet has no separators, so the name stays in its folder.
    """
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    slug = _SLUG_UNSAFE.sub("_", key).strip("._-")[:40] or "student"
    return f"{slug}-{digest}.html"


def anchor(assignment: str) -> str:
    return "a-" + page_name(assignment).removesuffix(".html")


def clean(text: str) -> str:
    """Text safe to put in a UTF-8 HTML page: no ANSI codes, controls or lone surrogates."""
    text = _CONTROL.sub("\ufffd", _ANSI.sub("", text))
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = clean(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [truncated: {len(text) - limit:,} more characters]"


def excerpt(text: str, limit: int = EXCERPT_LIMIT) -> tuple[str, str]:
    """The start and the end of an output (where a traceback is), and a note if cut."""
    text = clean(text)
    if len(text) <= limit:
        return text, ""
    head, tail = text[: limit // 2], text[len(text) - limit // 2 :]
    omitted = len(text) - len(head) - len(tail)
    return (
        f"{head}\n[… {omitted:,} characters omitted …]\n{tail}",
        f"Output truncated: showing {limit:,} of {len(text):,} characters.",
    )


def value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def points(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def score(got: float, max_score: float) -> str:
    return f"{points(got)} / {points(max_score)}"


def percent(passed: int | float, total: int | float) -> int:
    """Rounded, but 100 only when all passed and 0 only when none did."""
    if not total:
        return 0
    result = round(100 * passed / total)
    if result == 100 and passed < total:
        return 99
    if result == 0 and passed > 0:
        return 1
    return result


def status_css(status: Status | str) -> str:
    return f"status-{Status(status).value}"


def outcome_css(outcome: Outcome) -> str:
    return f"outcome-{Outcome(outcome).value}"


def timestamp(when: datetime) -> str:
    zone = when.tzname()
    return when.strftime("%Y-%m-%d %H:%M") + (f" {zone}" if zone else "")


STUDENTS_DIR = "students"
SIMILARITY_DIR = "similarity"  # `grade similarity` writes its pages here by default
TESTS_DIR = "tests"
RUNS_DIR = "runs"


def student_page(student: str) -> str:
    """The student's page, relative to the report root."""
    return f"{STUDENTS_DIR}/{page_name(student)}"


def page_of_test(assignment: str, test_id: str) -> str:
    """A test's page, relative to the report root; NUL cannot occur in either name."""
    return f"{TESTS_DIR}/{page_name(assignment + chr(0) + test_id)}"


def run_page(run_id: int) -> str:
    return f"{RUNS_DIR}/run-{int(run_id)}.html"


# Spreadsheets (Excel, LibreOffice, Google Sheets) run a cell that starts with one of
# these as a formula, so a student named "=HYPERLINK(...)" or an error message echoing
# their code could execute in the instructor's gradebook (CSV injection, OWASP).
# Tab and carriage return are on OWASP's list too: some importers strip them first.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (shown as text).

    Only strings: a number such as a negative score stays a number. JSON is left as it is,
    since nothing evaluates it.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
