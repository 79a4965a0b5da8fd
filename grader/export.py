"""The gradebook as a flat table an LMS imports: CSV or JSON, one row per (student, assignment)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, Literal, TextIO

from grader.models import Grade

FIELDS = ("student", "assignment", "score", "max_score", "status", "tests_passed", "tests_total", "message")
FORMATS = ("csv", "json")
# Spreadsheets (Excel, LibreOffice, Google Sheets) run a cell that starts with one of
# these as a formula, so a student named "=HYPERLINK(...)" or an error message echoing
# their code could execute in the instructor's gradebook (CSV injection, OWASP).
# Tab and carriage return are on OWASP's list too: some importers strip them first.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_records(grades: Iterable[Grade]) -> list[dict[str, Any]]:
    """One record per (student, assignment), sorted; a later grade for the same pair wins."""
    latest: dict[tuple[str, str], Grade] = {}
    for grade in grades:
        latest[(grade.student, grade.assignment)] = grade
    return [_record(latest[key]) for key in sorted(latest)]


def _record(grade: Grade) -> dict[str, Any]:
    return {
        "student": grade.student,
        "assignment": grade.assignment,
        # Partial credit sums in floating point (0.1 + 0.2); an LMS should see 0.3.
        "score": round(grade.score, 4),
        "max_score": round(grade.max_score, 4),
        "status": str(grade.status),
        "tests_passed": sum(t.outcome == "passed" for t in grade.tests),
        "tests_total": len(grade.tests),
        "message": grade.message,
    }


def write_export(records: Iterable[dict[str, Any]], fmt: Literal["csv", "json"], stream: TextIO) -> None:
    """Write records as CSV (header row first) or as a pretty JSON list, keys in FIELDS order.

    Open a file `stream` with newline="" so the csv module controls line endings.
    """
    rows = list(records)
    if fmt == "json":
        json.dump(rows, stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    elif fmt == "csv":
        fields = list(rows[0]) if rows else list(FIELDS)
        # "\n", not RFC 4180's "\r\n": every LMS importer takes it, and files diff cleanly.
        writer = csv.DictWriter(stream, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: _spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    else:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _spreadsheet_safe(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (shown as text).

    Only strings: a number such as a negative score stays a number. JSON is left as it is,
    since nothing evaluates it.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
