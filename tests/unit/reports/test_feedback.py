"""grader/reports/feedback.py: a student reads the message their check wrote for them, never the expected
value, whatever the wording of the staff's message; a message no check helper wrote falls back to `redact`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grader import models as m
from grader.checks.tensors import CheckFailed, assert_close, assert_equal
from grader.reports import write as report
from grader.reports.feedback import COURSE_FILE, HIDDEN, for_student, redact
from grader.reports.write import write_feedback
from tests.factories import make_grade, make_test_result
from tests.unit.reports.test_write import Page

SECRET = "0.6543"
# The staff's message in a wording redact's patterns do not know: the expected value would reach the student.
REWORDED = f"the weights at [0, 1]: yours is 0.17 where the reference has {SECRET}"
STUDENT = "the weights: wrong at [0, 1] (got 0.17)"


def failed(message: str, student_message: str | None, test_id: str = "test_mask") -> m.TestResult:
    return make_test_result(test_id, "failed", max_points=3.0, message=message, student_message=student_message)


def check_failure(check, *args, **kwargs) -> m.TestResult:
    """The TestResult the runner records for a real failing check (message and student message)."""
    with pytest.raises(CheckFailed) as error:
        check(*args, **kwargs)
    return failed(str(error.value), error.value.for_student)


def test_the_recorded_student_message_is_shown_even_when_redact_would_let_the_value_through() -> None:
    assert SECRET in redact(REWORDED)  # the safety net alone: the layout of the message decides
    assert for_student(failed(REWORDED, STUDENT)) == STUDENT


def test_without_a_student_message_the_message_is_redacted() -> None:
    message = "the loss is wrong: expected 2.3026, got 0.5\nexpected:\ntensor([2.3026])"
    assert for_student(failed(message, None)) == redact(message) == f"the loss is wrong: expected {HIDDEN}, got 0.5"
    assert for_student(make_test_result("test_scores")) == ""


def test_course_paths_leave_a_student_message_too_and_it_is_cleaned_and_bounded() -> None:
    shown = for_student(failed("x", "loaded /srv/course/reference/05/tests/hidden/data.pt: \x1b[31mbad\x1b[0m"),
                        limit=200)
    assert shown == f"loaded {COURSE_FILE}: bad"
    long = for_student(failed("x", "y" * 5000), limit=300)
    assert "y" * 301 not in long and "truncated" in long


@pytest.mark.parametrize("make", [
    lambda: check_failure(assert_close, torch.tensor([[0.25, 0.17]]), torch.tensor([[0.25, 0.6543]]),
                          what="the weights"),
    lambda: check_failure(assert_equal, torch.tensor([1, 0.17]), torch.tensor([1, 0.6543]), what="the weights"),
    lambda: failed(REWORDED, STUDENT),
], ids=["assert_close", "assert_equal", "reworded"])
def test_the_feedback_page_shows_the_student_message_and_never_the_expected_value(tmp_path: Path, make) -> None:
    result = make()
    assert SECRET in result.message  # the staff's message states it
    grade = make_grade("alice", tests=(make_test_result("test_scores"), result))
    write_feedback([grade], tmp_path, generated_at=None)

    page = Page(tmp_path / report.page_name("alice"))
    assert result.student_message is not None and result.student_message.split("\n")[0] in page.body
    assert "got 0.17" in page.body
    assert SECRET not in page.raw and "0.484" not in page.raw  # neither the value nor the error that gives it


def test_a_late_hand_in_shows_raw_score_penalty_and_final_score_in_the_feedback(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    late = m.Lateness(due_at=datetime(2026, 11, 2, 22, 59, tzinfo=timezone.utc),
                      submitted_at=datetime(2026, 11, 4, 11, 0, tzinfo=timezone.utc), days_late=2,
                      penalty_percent=20.0, message="handed in 2 days late: 20% of the points possible deducted")
    pages = write_feedback([make_grade("ada", tests=(), score=4.0, max_score=5.0, late=late)], tmp_path)

    text = pages[0].read_text("utf-8")
    assert "Deadline" in text and "handed in 2 days late" in text
    assert "raw score" in text and "4 / 5" in text and "−1 (20%)" in text and "3 / 5" in text
    assert "Total: <strong>3 / 5</strong>" in text
