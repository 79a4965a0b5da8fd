"""grader.export: the LMS gradebook as CSV and JSON, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from grader import models as m
from grader.export import FIELDS, export_records, write_export
from tests.factories import make_grade, make_test_result

GOLDEN = Path(__file__).parent / "golden" / "export.csv"


def result(test_id: str, outcome: str, points: float, max_points: float) -> m.TestResult:
    return make_test_result(test_id, outcome, points=points, max_points=max_points)


def grade(student: str, assignment: str, **changes: object) -> m.Grade:
    """Out of 10; no tests and no points unless given."""
    return make_grade(student, assignment, **{"tests": (), "score": 0.0, "max_score": 10.0, **changes})


def class_of_two() -> list[m.Grade]:
    return [
        grade(
            "bob",
            "05_attention_mechanism",
            score=0.1 + 0.2,
            message='cell 3 raised ValueError: "shapes (2, 4) and (3,) differ", see line 1,\nthen line 2',
            tests=(result("test_scores", "passed", 0.3, 5.0), result("test_mask", "failed", 0.0, 5.0)),
        ),
        grade(
            "alice",
            "05_attention_mechanism",
            score=10.0,
            tests=(result("test_scores", "passed", 5.0, 5.0), result("test_mask", "passed", 5.0, 5.0)),
        ),
        grade("alice", "homework", status=m.Status.MISSING, message="no file handed in"),
        grade("=HYPERLINK(\"http://evil\",\"x\")", "homework", status=m.Status.REJECTED, message="-1+2 symlink"),
    ]


def as_text(records: list[dict], fmt: str) -> str:
    stream = io.StringIO(newline="")
    write_export(records, fmt, stream)
    return stream.getvalue()


def test_records_one_per_pair_sorted_with_test_counts() -> None:
    records = export_records(class_of_two())

    assert [(r["student"], r["assignment"]) for r in records] == [
        ("=HYPERLINK(\"http://evil\",\"x\")", "homework"),
        ("alice", "05_attention_mechanism"),
        ("alice", "homework"),
        ("bob", "05_attention_mechanism"),
    ]
    assert all(tuple(r) == FIELDS for r in records)
    bob = records[3]
    assert (bob["score"], bob["max_score"], bob["status"]) == (0.3, 10.0, "graded")
    assert (bob["tests_passed"], bob["tests_total"]) == (1, 2)
    assert records[2]["status"] == "missing"


def test_a_later_grade_for_the_same_pair_wins() -> None:
    records = export_records([grade("alice", "homework", score=1.0), grade("alice", "homework", score=2.0)])

    assert [r["score"] for r in records] == [2.0]


def test_csv_has_a_header_and_reads_back() -> None:
    records = export_records(class_of_two())

    rows = list(csv.DictReader(io.StringIO(as_text(records, "csv"), newline="")))

    assert list(rows[0]) == list(FIELDS)
    assert rows[1] == {
        "student": "alice",
        "assignment": "05_attention_mechanism",
        "score": "10.0",
        "raw_score": "10.0",
        "late_penalty": "0.0",
        "max_score": "10.0",
        "status": "graded",
        "days_late": "0",
        "submitted_at": "",
        "due_at": "",
        "on_roster": "",  # no roster: neither on it nor off it
        "tests_passed": "2",
        "tests_total": "2",
        "message": "",
        "manual_points": "0.0",
        "awaiting_manual": "False",
        "manual": "",
    }
    assert rows[3]["message"].endswith(",\nthen line 2")  # newline and quotes survive quoting


def test_csv_neutralises_formulas_in_student_text() -> None:
    names = ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "ok")
    records = export_records([grade(name, "homework", message=name) for name in names])
    records.append({**records[0], "student": "negative-score", "score": -1.0})

    rows = list(csv.DictReader(io.StringIO(as_text(records, "csv"), newline="")))

    assert [r["student"] for r in rows] == ["'\t=1", "'+1", "'-1", "'=1+1", "'@SUM(A1)", "ok", "negative-score"]
    assert [r["message"] for r in rows[:6]] == ["'\t=1", "'+1", "'-1", "'=1+1", "'@SUM(A1)", "ok"]
    assert rows[6]["score"] == "-1.0"  # numbers stay numbers


def test_json_is_a_pretty_list_in_field_order_and_untouched() -> None:
    records = export_records(class_of_two())

    text = as_text(records, "json")

    assert json.loads(text) == records  # no apostrophes: nothing evaluates JSON
    assert text.startswith('[\n  {\n    "student": "=HYPERLINK')
    assert text.index('"score"') < text.index('"max_score"') < text.index('"message"')
    assert text.endswith("]\n")


def test_empty_export_still_has_a_header() -> None:
    assert as_text([], "csv") == ",".join(FIELDS) + "\n"
    assert as_text([], "json") == "[]\n"


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(ValueError, match="csv, json"):
        as_text([], "xlsx")


def test_csv_matches_golden_file_byte_for_byte() -> None:
    """The golden file is reviewed like code: regenerate it only on purpose."""
    got = as_text(export_records(class_of_two()), "csv").encode("utf-8")

    assert got == GOLDEN.read_bytes()
