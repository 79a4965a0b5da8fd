"""grader.export: the LMS gradebook (one row per student) and Gradescope's results.json, with golden files."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from grader import models as m
from grader.export import GRADEBOOK_IDS, gradescope_results, write_gradebook, write_gradescope
from tests.factories import make_grade, make_test_result

GOLDEN = Path(__file__).parent / "golden"


def grade(student: str, assignment: str, score: float, *tests: m.TestResult, **changes: object) -> m.Grade:
    """Out of 20, graded in 12.5 s."""
    return make_grade(student, assignment, **{"score": score, "max_score": 20.0, "tests": tests, "duration_s": 12.5,
                                              **changes})


def class_grades() -> list[m.Grade]:
    return [
        grade("bob", "05_attention_mechanism", 0.1 + 0.2,
              make_test_result("test_sdpa_matches_reference", "failed", part="Scaled dot-product attention",
                               max_points=4.0,
                               message="the weights: 12 of 12 values differ from the expected ones; the largest "
                                       "error is 0.5 at [0, 1] (got 0.25, expected 0.75; shape (2, 3))"),
              make_test_result("test_causal_mask", part="Masks", max_points=0.3)),
        grade("alice", "05_attention_mechanism", 20.0,
              make_test_result("test_causal_mask", part="Masks", max_points=2.0)),
        grade("alice", "01_neural_networks", 15.5),
        grade("=cmd|' /C calc'!A0", "01_neural_networks", 0.0, status=m.Status.MISSING, message="no notebook"),
    ]


def golden(name: str, text: str) -> None:
    """Reviewed like code; regenerate with GRADER_UPDATE_GOLDEN=1 after an intended change."""
    path = GOLDEN / name
    if os.environ.get("GRADER_UPDATE_GOLDEN"):
        path.write_text(text, "utf-8")
    assert text == path.read_text("utf-8")


def test_gradebook_is_one_row_per_student_and_one_column_per_assignment() -> None:
    stream = io.StringIO(newline="")
    write_gradebook(class_grades(), stream)
    text = stream.getvalue()
    golden("export_gradebook.csv", text)

    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0][:5]) == GRADEBOOK_IDS  # Canvas's gradebook import header
    assert rows[0][5:] == ["01_neural_networks", "05_attention_mechanism"]
    by_login = {r[3]: r for r in rows[1:]}
    assert by_login["alice"][5:] == ["15.5", "20.0"]
    assert by_login["bob"][5:] == ["", "0.3"]  # no grade: an empty cell, not a zero
    assert "'=cmd|' /C calc'!A0" in by_login  # a formula is neutralised
    assert len(rows) == 4


def test_gradescope_results_json_matches_golden(tmp_path: Path) -> None:
    written = write_gradescope(class_grades(), tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())

    assert len(written) == 4 == len(manifest)
    assert {(e["student"], e["assignment"]) for e in manifest} == {(g.student, g.assignment) for g in class_grades()}
    for entry in manifest:
        path = (tmp_path / entry["results"]).resolve()
        assert path.is_relative_to(tmp_path.resolve()) and path.name == "results.json"
    bob = next(e for e in manifest if e["student"] == "bob")
    golden("gradescope_results.json", (tmp_path / bob["results"]).read_text("utf-8"))


def test_gradescope_scores_and_tests_follow_the_format() -> None:
    results = gradescope_results(class_grades()[0])

    assert results["score"] == 0.3 and results["execution_time"] == 12.5
    assert [t["score"] for t in results["tests"]] == [0.0, 0.3]
    assert [t["max_score"] for t in results["tests"]] == [4.0, 0.3]
    assert [t["status"] for t in results["tests"]] == ["failed", "passed"]
    assert results["tests"][0]["tags"] == ["Scaled dot-product attention"]
    assert {t["visibility"] for t in results["tests"]} == {"visible"}
    output = results["tests"][0]["output"]
    assert "0.75" not in output and "0.5" not in output and "expected [hidden]" in output  # no expected values
    assert "got 0.25" in output


def test_gradescope_shows_the_recorded_student_message_and_never_the_expected_value() -> None:
    """The staff's message states the expected value in a wording redact does not know: only the check's
    own student message may reach Gradescope. A test with none is still redacted."""
    reworded = "the weights at [0, 1]: yours is 0.25 where the reference has 0.75 (off by 0.5)"
    results = gradescope_results(grade(
        "bob", "05_attention_mechanism", 0.0,
        make_test_result("test_sdpa_matches_reference", "failed", max_points=4.0, message=reworded,
                         student_message="the weights: 1 of 12 values differ; the largest error is at [0, 1] "
                                         "(got 0.25; shape (2, 3))"),
        make_test_result("test_causal_mask", "failed", max_points=2.0,
                         message="assert causal_mask(3)[0, 1] is False, expected True")))

    first, second = (t["output"] for t in results["tests"])
    assert first == "the weights: 1 of 12 values differ; the largest error is at [0, 1] (got 0.25; shape (2, 3))"
    assert "0.75" not in json.dumps(results) and "0.5" not in json.dumps(results)
    assert second == "assert causal_mask(3)[0, 1] is False, expected [hidden]"
