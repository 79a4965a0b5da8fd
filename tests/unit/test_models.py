"""grader/models.py and grader/records.py: verdicts are enums, and a Grade survives its plain-data (JSON) form whole."""

from __future__ import annotations

import json

import pytest

from grader import models as m
from grader import records
from tests.factories import make_grade, make_model_score, make_test_result


def test_an_outcome_given_as_its_stored_word_becomes_the_enum() -> None:
    assert make_test_result(outcome="failed").outcome is m.Outcome.FAILED
    with pytest.raises(ValueError):
        make_test_result(outcome="sort of")


def test_a_grade_survives_json_through_the_one_mapping() -> None:
    grade = make_grade(
        tests=(make_test_result("test_mask", "failed", signals=(m.Signal(m.SignalKind.FAKE_RESULT, "AlwaysEqual"),),
                                message="m: 1 of 4 values differ (got 1, expected 2)",
                                student_message="m: 1 of 4 values differ (got 1)"),
               make_test_result("test_scores", "failed", message="assert x == 2")),
        execution=m.Execution(m.Status.GRADED, cell_errors=(m.CellError(3, "NameError", "x"),), output_excerpt="hi",
                              signals=(m.Signal(m.SignalKind.KILLED, "the kernel died"),)),
        model_score=make_model_score(),
    )
    text = json.dumps(records.grade_to_record(grade))

    assert records.grade_from_record(json.loads(text)) == grade


def test_the_model_score_keeps_the_keys_the_homework_always_wrote() -> None:
    """A group of keys is there once grading reached it; nulls inside a reached group stay."""
    scored = records.grade_to_record(make_grade(model_score=make_model_score(device=None)))["extra"]
    assert list(scored) == ["split_hash", "n_heldout", "heldout", "majority_accuracy", "architecture", "parameters",
                            "weights_mib", "accuracy", "macro_f1", "per_class_f1", "confusion_matrix", "labels",
                            "device", "dtype", "inference_s", "reviews_per_s", "seconds"]
    assert scored["device"] is None and scored["confusion_matrix"] == [[40, 10], [5, 45]]
    timed_out = make_model_score(accuracy=None, macro_f1=None, per_class_f1=None, confusion_matrix=None, labels=None,
                                 device=None, dtype=None, inference_s=None, reviews_per_s=None)
    assert list(records.grade_to_record(make_grade(model_score=timed_out))["extra"]) == [
        "split_hash", "n_heldout", "heldout", "majority_accuracy", "architecture", "parameters", "weights_mib",
        "seconds"]
    assert records.grade_to_record(make_grade())["extra"] == {}


def test_a_record_written_before_student_messages_reads_back_with_none() -> None:
    record = records.grade_to_record(make_grade(tests=(make_test_result("test_mask", "failed", student_message="m"),)))
    del record["tests"][0]["student_message"]
    assert records.grade_from_record(record).tests[0].student_message is None


def test_further_metrics_survive_json_and_appear_only_when_a_rubric_asks_for_them() -> None:
    """settings.metrics beyond accuracy and macro F1 (grader/homework/metrics/) are stored by name."""
    grade = make_grade(model_score=make_model_score(other_metrics=(("macro_recall", 0.81), ("weighted_f1", 0.8))))
    record = json.loads(json.dumps(records.grade_to_record(grade)))
    assert record["extra"]["other_metrics"] == [["macro_recall", 0.81], ["weighted_f1", 0.8]]
    assert records.grade_from_record(record) == grade
    no_accuracy = make_model_score(accuracy=None, macro_f1=None, per_class_f1=None)  # a rubric without them
    assert "labels" in records.grade_to_record(make_grade(model_score=no_accuracy))["extra"]
