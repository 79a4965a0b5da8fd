"""Static HTML reports: one class overview, one page per student.

Each page is rendered from a small frozen context built here; the templates in
``templates/`` only lay it out. Everything a student produced (their id, which is a
folder name, messages, outputs) is hostile: Jinja autoescapes it, and page file
names are slugs plus a hash, so no id can name a path outside ``out_dir``.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from grader.models import Grade, Status

EXCERPT_LIMIT = 4000  # characters of student output shown per assignment
MESSAGE_LIMIT = 2000  # characters of one message (test failure, cell error value)
STUDENTS_DIR = "students"
STYLESHEET = "static/style.css"

_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PAGE_NAME = re.compile(r"^[A-Za-z0-9._-]*-[0-9a-f]{12}\.html$")
# ANSI colour codes: IPython tracebacks are full of them and they are noise in HTML.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# C0 controls other than tab, newline and carriage return are not allowed in HTML.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_OUTCOMES = frozenset({"passed", "failed", "error", "skipped"})


@dataclass(frozen=True)
class ScoreCell:
    """One (student, assignment) cell of the class table; empty when no grade exists."""

    status: str
    css: str
    score: str
    href: str


@dataclass(frozen=True)
class StudentRow:
    student: str
    href: str
    cells: tuple[ScoreCell, ...]
    total: str


@dataclass(frozen=True)
class PassRateRow:
    """How many of the submissions whose tests ran passed one test."""

    assignment: str
    test_id: str
    part: str
    passed: int
    total: int
    percent: int


@dataclass(frozen=True)
class StatusCountRow:
    assignment: str
    counts: tuple[int, ...]  # in the order of IndexContext.statuses


@dataclass(frozen=True)
class IndexContext:
    page_title: str
    stylesheet: str
    generated_at: str
    assignments: tuple[str, ...]
    students: tuple[StudentRow, ...]
    statuses: tuple[str, ...]
    status_counts: tuple[StatusCountRow, ...]
    status_totals: tuple[int, ...]
    pass_rates: tuple[PassRateRow, ...]


@dataclass(frozen=True)
class Detail:
    name: str
    value: str


@dataclass(frozen=True)
class CellErrorRow:
    cell: int
    ename: str
    evalue: str


@dataclass(frozen=True)
class TestRow:
    test_id: str
    part: str
    outcome: str
    css: str
    points: str
    message: str


@dataclass(frozen=True)
class AssignmentSection:
    assignment: str
    anchor: str
    status: str
    css: str
    score: str
    message: str
    duration: str
    unsandboxed: bool
    execution_message: str
    cell_errors: tuple[CellErrorRow, ...]
    tests: tuple[TestRow, ...]
    excerpt: str
    excerpt_note: str
    details: tuple[Detail, ...]
    fingerprint: tuple[Detail, ...]


@dataclass(frozen=True)
class StudentPageContext:
    page_title: str
    stylesheet: str
    generated_at: str
    report_title: str
    index_href: str
    student: str
    total: str
    sections: tuple[AssignmentSection, ...]


def write_reports(
    grades: Sequence[Grade],
    out_dir: Path,
    *,
    title: str = "Grade report",
    generated_at: datetime | None = None,
) -> Path:
    """Write index.html, students/<page>.html and static/style.css under out_dir; return the index.

    Every page is rendered before any file is written, and each file replaces its old
    version atomically, so a failure while rendering leaves the previous report whole.
    """
    out_dir = Path(out_dir)
    when = _timestamp(generated_at or datetime.now(timezone.utc))
    by_student = _by_student(grades)
    env = environment()

    pages: dict[str, str] = {}
    for student, student_grades in by_student.items():
        context = student_context(student, student_grades, title=title, generated_at=when)
        pages[f"{STUDENTS_DIR}/{page_name(student)}"] = _render(env, "student.html", context)
    pages[STYLESHEET] = (resources.files("grader") / "templates" / STYLESHEET).read_text("utf-8")
    # The index goes last, so it never links to a page that is not written yet.
    pages["index.html"] = _render(env, "index.html", index_context(grades, title=title, generated_at=when))

    for relative, text in pages.items():
        _write_atomic(out_dir / relative, text)
    _prune_student_pages(out_dir / STUDENTS_DIR, keep={page_name(s) for s in by_student})
    return out_dir / "index.html"


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("grader", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def page_name(student: str) -> str:
    """A file name for a student's page: a readable slug plus a hash of the exact id.

    The hash keeps ids that slug alike ("a/b", "a_b", "A_B" on a case-insensitive
    disk) apart; the slug alphabet has no separators, so the name stays in its folder.
    """
    digest = hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    slug = _SLUG_UNSAFE.sub("_", student).strip("._-")[:40] or "student"
    return f"{slug}-{digest}.html"


def index_context(grades: Iterable[Grade], *, title: str, generated_at: str) -> IndexContext:
    grades = list(grades)
    assignments = tuple(sorted({g.assignment for g in grades}))
    by_student = _by_student(grades)
    statuses = tuple(s.value for s in Status)

    students = []
    for student, student_grades in by_student.items():
        href = f"{STUDENTS_DIR}/{page_name(student)}"
        found = {g.assignment: g for g in student_grades}
        cells = tuple(
            ScoreCell(
                status=g.status.value,
                css=_status_css(g.status),
                score=_score(g.score, g.max_score),
                href=f"{href}#{_anchor(a)}",
            )
            if (g := found.get(a))
            else ScoreCell(status="", css="status-none", score="—", href="")
            for a in assignments
        )
        total = _score(sum(g.score for g in student_grades), sum(g.max_score for g in student_grades))
        students.append(StudentRow(student=_clean(student), href=href, cells=cells, total=total))

    status_counts = tuple(
        StatusCountRow(
            assignment=_clean(a),
            counts=tuple(sum(1 for g in grades if g.assignment == a and g.status == s) for s in Status),
        )
        for a in assignments
    )
    return IndexContext(
        page_title=_clean(title),
        stylesheet=STYLESHEET,
        generated_at=generated_at,
        assignments=tuple(_clean(a) for a in assignments),
        students=tuple(students),
        statuses=statuses,
        status_counts=status_counts,
        status_totals=tuple(sum(1 for g in grades if g.status == s) for s in Status),
        pass_rates=_pass_rates(grades, assignments),
    )


def student_context(
    student: str, grades: Iterable[Grade], *, title: str, generated_at: str
) -> StudentPageContext:
    grades = sorted(grades, key=lambda g: g.assignment)
    return StudentPageContext(
        page_title=f"{_clean(student)} · {_clean(title)}",
        stylesheet=f"../{STYLESHEET}",
        generated_at=generated_at,
        report_title=_clean(title),
        index_href="../index.html",
        student=_clean(student),
        total=_score(sum(g.score for g in grades), sum(g.max_score for g in grades)),
        sections=tuple(_section(g) for g in grades),
    )


def _section(grade: Grade) -> AssignmentSection:
    execution = grade.execution
    excerpt, note = _excerpt(execution.output_excerpt if execution else "")
    return AssignmentSection(
        assignment=_clean(grade.assignment),
        anchor=_anchor(grade.assignment),
        status=grade.status.value,
        css=_status_css(grade.status),
        score=_score(grade.score, grade.max_score),
        message=_shorten(grade.message),
        duration=f"{grade.duration_s:.1f} s",
        unsandboxed=execution is not None and not execution.sandboxed,
        execution_message=_shorten(execution.message) if execution else "",
        cell_errors=tuple(
            CellErrorRow(cell=e.cell, ename=_shorten(e.ename), evalue=_shorten(e.evalue))
            for e in (execution.cell_errors if execution else ())
        ),
        tests=tuple(
            TestRow(
                test_id=_clean(t.test_id),
                part=_clean(t.part),
                outcome=_clean(t.outcome),
                css=f"outcome-{t.outcome}" if t.outcome in _OUTCOMES else "outcome-other",
                points=_score(t.points, t.max_points),
                message=_shorten(t.message),
            )
            for t in grade.tests
        ),
        excerpt=excerpt,
        excerpt_note=note,
        details=tuple(Detail(name=_clean(str(k)), value=_shorten(_value(v))) for k, v in sorted(grade.extra.items())),
        fingerprint=tuple(
            Detail(name=f.name, value=_clean(str(getattr(grade.fingerprint, f.name))))
            for f in fields(grade.fingerprint)
        ),
    )


def _pass_rates(grades: Sequence[Grade], assignments: Sequence[str]) -> tuple[PassRateRow, ...]:
    """Per assignment, each test's pass count, in the order the check stage reported tests."""
    rows = []
    for assignment in assignments:
        tally: dict[str, list[Any]] = {}  # test_id -> [part, passed, total]
        for grade in sorted((g for g in grades if g.assignment == assignment), key=lambda g: g.student):
            for test in grade.tests:
                entry = tally.setdefault(test.test_id, [test.part, 0, 0])
                entry[1] += test.outcome == "passed"
                entry[2] += 1
        rows.extend(
            PassRateRow(
                assignment=_clean(assignment),
                test_id=_clean(test_id),
                part=_clean(part),
                passed=passed,
                total=total,
                percent=_percent(passed, total),
            )
            for test_id, (part, passed, total) in tally.items()
        )
    return tuple(rows)


def _by_student(grades: Iterable[Grade]) -> dict[str, list[Grade]]:
    """Grades grouped by student, students in a stable, case-insensitive order."""
    groups: dict[str, list[Grade]] = {}
    seen: set[tuple[str, str]] = set()
    for grade in grades:
        key = (grade.student, grade.assignment)
        if key in seen:
            raise ValueError(
                f"two grades for student {grade.student!r}, assignment {grade.assignment!r}; "
                "pass one grade per (student, assignment), e.g. the latest run's"
            )
        seen.add(key)
        groups.setdefault(grade.student, []).append(grade)
    return {s: groups[s] for s in sorted(groups, key=lambda s: (s.casefold(), s))}


def _render(env: jinja2.Environment, template: str, context: Any) -> str:
    # Shallow on purpose: rows stay typed objects, and StrictUndefined catches a typo in the template.
    return env.get_template(template).render({f.name: getattr(context, f.name) for f in fields(context)})


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 honours the umask, unlike tempfile's private 0o600 files.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _prune_student_pages(folder: Path, keep: set[str]) -> None:
    """Remove pages of students no longer in the report, and nothing else."""
    for path in folder.glob("*.html"):
        if path.name not in keep and _PAGE_NAME.match(path.name) and path.is_file():
            path.unlink()


def _clean(text: str) -> str:
    """Text safe to put in a UTF-8 HTML page: no ANSI codes, controls or lone surrogates."""
    text = _CONTROL.sub("\ufffd", _ANSI.sub("", text))
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = _clean(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [truncated: {len(text) - limit:,} more characters]"


def _excerpt(text: str, limit: int = EXCERPT_LIMIT) -> tuple[str, str]:
    """The start and the end of an output (where a traceback is), and a note if cut."""
    text = _clean(text)
    if len(text) <= limit:
        return text, ""
    head, tail = text[: limit // 2], text[len(text) - limit // 2 :]
    omitted = len(text) - len(head) - len(tail)
    return (
        f"{head}\n[… {omitted:,} characters omitted …]\n{tail}",
        f"Output truncated: showing {limit:,} of {len(text):,} characters.",
    )


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _points(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _score(score: float, max_score: float) -> str:
    return f"{_points(score)} / {_points(max_score)}"


def _percent(passed: int, total: int) -> int:
    """Rounded, but 100 only when all passed and 0 only when none did."""
    percent = round(100 * passed / total)
    if percent == 100 and passed < total:
        return 99
    if percent == 0 and passed > 0:
        return 1
    return percent


def _anchor(assignment: str) -> str:
    return "a-" + page_name(assignment).removesuffix(".html")


def _status_css(status: Status) -> str:
    return f"status-{status.value}"


def _timestamp(when: datetime) -> str:
    zone = when.tzname()
    return when.strftime("%Y-%m-%d %H:%M") + (f" {zone}" if zone else "")
