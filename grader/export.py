"""The gradebook for other systems: flat CSV/JSON records, LMS grade imports, Gradescope results.

- csv / json: one record per (student, assignment): `score` is the final score (after the late
  penalty), beside `raw_score` and `late_penalty` (points), the lateness, and `on_roster` (false
  for a student graded but not on the roster; empty when the course has no roster); the written
  answers graded by hand: `manual_points` (part of the score), `awaiting_manual` (true while one
  is not graded: the score is not final) and `manual` (each part's points, items and comment).
- canvas: the CSV Canvas's gradebook import takes (`write_canvas` says how each column is filled).
- moodle: the CSV Moodle's grade import takes, one identifier column mapped to a user field (`write_moodle`).
- gradebook: one row per student, one column per assignment, Canvas's five id columns first,
  the roster left aside (kept for scripts written against it; `canvas` is the import proper).
- gradescope: a results.json per submission in Gradescope's autograder format.

Every score written is the final score. Exports receive grades with overrides already applied
(grader.store.overrides.apply_overrides); the late penalty comes after (grader.models.Grade.final_score).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

from grader.models import Grade, ManualResult, Outcome, RosterStudent
from grader.reports.feedback import for_student, redact
from grader.reports.text import page_name, spreadsheet_safe

FIELDS = ("student", "assignment", "score", "raw_score", "late_penalty", "max_score", "status", "days_late",
          "submitted_at", "due_at", "on_roster", "tests_passed", "tests_total", "message", "manual_points",
          "awaiting_manual", "manual")
FORMATS = ("csv", "json", "gradebook", "gradescope", "canvas", "moodle")
# Canvas matches rows on ID, SIS User ID or SIS Login ID, and needs the five columns present.
GRADEBOOK_IDS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def export_records(grades: Iterable[Grade], roster: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One record per (student, assignment), sorted; a later grade for the same pair wins.
    `roster`: the student ids on the course's roster (none: `on_roster` is None throughout)."""
    latest: dict[tuple[str, str], Grade] = {}
    for grade in grades:
        latest[(grade.student, grade.assignment)] = grade
    known = set(roster)
    return [_record(latest[key], (key[0] in known) if known else None) for key in sorted(latest)]


def _record(grade: Grade, on_roster: bool | None) -> dict[str, Any]:
    late = grade.late
    return {
        "student": grade.student,
        "assignment": grade.assignment,
        # Partial credit sums in floating point (0.1 + 0.2); an LMS should see 0.3.
        "score": round(grade.final_score, 4),
        "raw_score": round(grade.score, 4),
        "late_penalty": round(grade.late_penalty, 4),
        "max_score": round(grade.max_score, 4),
        "status": str(grade.status),
        "days_late": late.days_late if late else 0,
        "submitted_at": late.submitted_at.isoformat() if late and late.submitted_at else None,
        "due_at": late.due_at.isoformat() if late else None,
        "on_roster": on_roster,
        "tests_passed": sum(t.outcome is Outcome.PASSED for t in grade.tests),
        "tests_total": len(grade.tests),
        "message": grade.message,
        # Written answers graded by hand (part of score): their points, and whether one still awaits a TA.
        "manual_points": round(grade.manual_points, 4),
        "awaiting_manual": grade.awaiting_manual,
        "manual": [manual_record(m) for m in grade.manual],
    }


def manual_record(result: ManualResult) -> dict[str, Any]:
    """One manual part as plain data: its points (None until graded), the items applied, the TA's comment."""
    graded = result.grade
    return {
        "part": result.part.answer,
        "name": result.part.name,
        "points": None if graded is None else round(graded.points, 4),
        "max_points": round(result.part.max_points, 4),
        "awaiting_manual": result.awaiting,
        "items": [] if graded is None else [{"id": i.id, "points": i.points, "description": i.description}
                                            for i in graded.applied],
        "adjustment": 0.0 if graded is None else graded.adjustment,
        "comment": "" if graded is None else graded.comment,
        "graded_by": None if graded is None else graded.graded_by,
        "graded_at": None if graded is None else graded.graded_at.isoformat(),
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
        writer.writerows({key: spreadsheet_safe(_csv_value(key, value)) for key, value in row.items()} for row in rows)
    else:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _csv_value(key: str, value: Any) -> Any:
    """The manual parts in one readable cell: "Why scale…: 3/4 [items] “comment” | Other: awaiting manual grading"."""
    if key != "manual":
        return value
    return " | ".join(_manual_text(m) for m in value)


def _manual_text(part: dict[str, Any]) -> str:
    if part["awaiting_manual"]:
        return f"{part['name']}: awaiting manual grading"
    said = f"{part['name']}: {part['points']:g}/{part['max_points']:g}"
    if part["items"]:
        said += " [" + "; ".join(i["description"] for i in part["items"]) + "]"
    if part["adjustment"]:
        said += f" (adjustment {part['adjustment']:+g})"
    return said + (f" “{part['comment']}”" if part["comment"] else "")


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
        scores = [round(g.final_score, 4) if (g := latest.get((student, a))) else "" for a in assignments]
        safe = spreadsheet_safe(student)
        writer.writerow([safe, "", "", safe, "", *scores])


# -- LMS grade imports ---------------------------------------------------------------------------

CANVAS_POINTS_ROW = "Points Possible"
MOODLE_IDS = ("Email address", "ID number", "Student", "Full name")


def _latest(grades: Iterable[Grade]) -> dict[tuple[str, str], Grade]:
    latest: dict[tuple[str, str], Grade] = {}
    for grade in grades:
        latest[(grade.student, grade.assignment)] = grade
    return latest


def _lms_rows(latest: dict[tuple[str, str], Grade],
              roster: Sequence[RosterStudent]) -> tuple[list[RosterStudent], list[str]]:
    """The students to write (the roster's; every graded one without a roster) and the graded strangers
    left out: an LMS refuses or skips a user it does not know, so they are named to the caller instead."""
    graded = sorted({s for s, _ in latest})
    if not roster:
        return [RosterStudent(student=s) for s in graded], []
    known = {r.student for r in roster}
    return sorted(roster, key=lambda r: r.student), [s for s in graded if s not in known]


def write_canvas(grades: Iterable[Grade], stream: TextIO, *, roster: Sequence[RosterStudent] = (),
                 assignments: Sequence[str] | None = None, canvas_ids: dict[str, str] | None = None) -> list[str]:
    """Canvas's gradebook import CSV; returns the graded students left out (not on the roster).

    Header `Student,ID,SIS User ID,SIS Login ID,Section`, then one column per assignment named
    `<assignment> (<Canvas id>)` when the roster was a Canvas export that had that column (Canvas
    then updates it), else `<assignment>` (Canvas adds it as a new assignment on the first import).
    The second row is "Points Possible" with each assignment's max score, as Canvas's own export
    writes it. Student is the roster's name (else the id); ID, SIS User ID and Section come from
    the roster; SIS Login ID is the student id. Scores are final scores; a cell stays empty where
    no result exists (Canvas leaves that grade alone); a missing hand-in is a 0.
    """
    latest = _latest(grades)
    columns = list(assignments) if assignments is not None else sorted({a for _, a in latest})
    ids = canvas_ids or {}
    rows, left_out = _lms_rows(latest, roster)
    maxima = {a: g.max_score for (_, a), g in latest.items()}
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*GRADEBOOK_IDS, *(spreadsheet_safe(f"{a} ({ids[a]})" if a in ids else a) for a in columns)])
    writer.writerow([CANVAS_POINTS_ROW, "", "", "", "", *(_number(maxima[a]) if a in maxima else "" for a in columns)])
    for row in rows:
        scores = [_number(g.final_score) if (g := latest.get((row.student, a))) else "" for a in columns]
        writer.writerow([spreadsheet_safe(row.name or row.student), spreadsheet_safe(row.canvas_id),
                         spreadsheet_safe(row.sis_user_id), spreadsheet_safe(row.student),
                         spreadsheet_safe(row.section), *scores])
    return left_out


def write_moodle(grades: Iterable[Grade], stream: TextIO, *, roster: Sequence[RosterStudent] = (),
                 assignments: Sequence[str] | None = None) -> list[str]:
    """Moodle's CSV grade import; returns the graded students left out (not on the roster).

    Columns `Email address,ID number,Student,Full name`, then one per assignment (final scores;
    empty where no result exists). On import (Grades > Import > CSV file), under "Identify user
    by" map "Email address" to `useremail` (or "ID number" to `useridnumber`, or "Student" to
    `username` when the submission folders are Moodle usernames), and each assignment column to
    its grade item (or "new grade item"). Moodle stops on a user it cannot find, so students not
    on the roster are left out and named instead.
    """
    latest = _latest(grades)
    columns = list(assignments) if assignments is not None else sorted({a for _, a in latest})
    rows, left_out = _lms_rows(latest, roster)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*MOODLE_IDS, *(spreadsheet_safe(a) for a in columns)])
    for row in rows:
        scores = [_number(g.final_score) if (g := latest.get((row.student, a))) else "" for a in columns]
        writer.writerow([spreadsheet_safe(row.email), spreadsheet_safe(row.idnumber), spreadsheet_safe(row.student),
                         spreadsheet_safe(row.name), *scores])
    return left_out


def _number(x: float) -> str:
    """A score as an LMS reads it: at most 4 decimals, no float noise, "." as the decimal point."""
    return f"{round(x, 4):.4f}".rstrip("0").rstrip(".")


def gradescope_results(grade: Grade) -> dict[str, Any]:
    """Gradescope's autograder results.json for one submission; each message as a student may read it
    (grader.reports.feedback: the check's own student version, else redacted)."""
    output = redact(grade.message)
    if grade.awaiting_manual:
        output = "\n".join(filter(None, (output, "awaiting manual grading: a written answer is not graded yet, "
                                                  "so this score is not final")))
    if grade.late is not None and grade.late.message:
        output = "\n".join(filter(None, (output, f"{grade.late.message}: raw score {grade.score:g}, final "
                                                  f"{round(grade.final_score, 4):g} of {grade.max_score:g}")))
    return {
        "score": round(grade.final_score, 4),
        "execution_time": round(grade.duration_s, 3),
        "output": output,
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
        ] + [_gradescope_manual(number, m) for number, m in enumerate(grade.manual, start=len(grade.tests) + 1)],
        "extra_data": {"student": grade.student, "assignment": grade.assignment, "status": str(grade.status),
                       "raw_score": round(grade.score, 4), "late_penalty": round(grade.late_penalty, 4),
                       "manual_points": round(grade.manual_points, 4), "awaiting_manual": grade.awaiting_manual},
    }


def _gradescope_manual(number: int, result: ManualResult) -> dict[str, Any]:
    """A manual part as a Gradescope test: the points a TA gave, the items applied and their comment."""
    record = manual_record(result)
    if record["awaiting_manual"]:
        output = "awaiting manual grading"
    else:
        lines = [f"{i['points']:+g}: {i['description']}" for i in record["items"]]
        lines += [f"adjustment {record['adjustment']:+g}"] if record["adjustment"] else []
        lines += [record["comment"]] if record["comment"] else []
        output = "\n".join(lines)
    return {
        "name": result.part.name,
        "name_format": "text",
        "number": str(number),
        "score": 0.0 if record["points"] is None else record["points"],
        "max_score": record["max_points"],
        "status": "passed" if record["points"] is not None and record["points"] >= record["max_points"] else "failed",
        "output": output,
        "output_format": "text",
        "tags": ["manual"],
        "visibility": "visible",
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
