"""The gradebook for other systems: flat CSV/JSON records, an LMS gradebook, Gradescope results.

- csv / json: one record per (student, assignment).
- gradebook: one row per student, one column per assignment; the header Canvas's gradebook
  import expects (Student, ID, SIS User ID, SIS Login ID, Section, then assignments). Moodle's
  CSV grade import maps "SIS Login ID" to the username and each assignment column to a grade item.
- gradescope: a results.json per submission in Gradescope's autograder format.

Exports receive grades with overrides already applied (grader.store.overrides.apply_overrides).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

from grader.models import Grade, Outcome
from grader.reports.feedback import for_student, redact
from grader.reports.text import page_name, spreadsheet_safe

FIELDS = ("student", "assignment", "score", "max_score", "status", "tests_passed", "tests_total", "message")
FORMATS = ("csv", "json", "gradebook", "gradescope")
# Canvas matches rows on ID, SIS User ID or SIS Login ID, and needs the five columns present.
GRADEBOOK_IDS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


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
        "tests_passed": sum(t.outcome is Outcome.PASSED for t in grade.tests),
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
        writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    else:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def write_gradebook(grades: Iterable[Grade], stream: TextIO) -> None:
    """One row per student, one column per assignment (the score; empty where there is no grade).

    The student id (the submission folder's name) goes in Student and SIS Login ID; ID and
    SIS User ID stay empty so Canvas matches on the login. No "Points Possible" row: Moodle
    would read it as a student.
    """
    latest: dict[tuple[str, str], Grade] = {}
    for grade in grades:
        latest[(grade.student, grade.assignment)] = grade
    assignments = sorted({a for _, a in latest})
    students = sorted({s for s, _ in latest})
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*GRADEBOOK_IDS, *(spreadsheet_safe(a) for a in assignments)])
    for student in students:
        scores = [round(g.score, 4) if (g := latest.get((student, a))) else "" for a in assignments]
        safe = spreadsheet_safe(student)
        writer.writerow([safe, "", "", safe, "", *scores])


def gradescope_results(grade: Grade) -> dict[str, Any]:
    """Gradescope's autograder results.json for one submission; each message as a student may read it
    (grader.reports.feedback: the check's own student version, else redacted)."""
    return {
        "score": round(grade.score, 4),
        "execution_time": round(grade.duration_s, 3),
        "output": redact(grade.message),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",  # student output can hold anything; TAs read it in the reports
        "tests": [
            {
                "name": test.test_id,
                "name_format": "text",
                "number": str(number),
                "score": round(test.points, 4),
                "max_score": round(test.max_points, 4),
                # Gradescope knows only these two words.
                "status": "passed" if test.outcome is Outcome.PASSED else "failed",
                "output": for_student(test),
                "output_format": "text",
                "tags": [test.part] if test.part else [],
                "visibility": "visible",
            }
            for number, test in enumerate(grade.tests, start=1)
        ],
        "extra_data": {"student": grade.student, "assignment": grade.assignment, "status": str(grade.status)},
    }


def write_gradescope(grades: Sequence[Grade], out_dir: Path) -> list[Path]:
    """`<out_dir>/<assignment>/<student>/results.json` per submission, plus a manifest.json mapping
    the (hashed, path-safe) folder names back to the exact ids. Returns the results files."""
    out_dir = Path(out_dir)
    written, manifest = [], []
    for grade in sorted(grades, key=lambda g: (g.assignment, g.student)):
        folder = out_dir / page_name(grade.assignment).removesuffix(".html") / page_name(grade.student).removesuffix(".html")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "results.json"
        path.write_text(json.dumps(gradescope_results(grade), indent=2, ensure_ascii=False) + "\n", "utf-8")
        written.append(path)
        manifest.append({"student": grade.student, "assignment": grade.assignment,
                         "results": path.relative_to(out_dir).as_posix()})
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return written
