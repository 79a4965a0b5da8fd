"""Feedback pages for students: their points and messages, nothing of the hidden tests.

A student sees their own grade, each test's points and message, their cell errors and any
adjustment made by hand. A test's message comes from the trusted check stage and states what
was expected, for the course staff; what a student reads of it (`for_student`) is the version
the check helper wrote for them beside it (TestResult.student_message, without the hidden
expected values), so the hidden suite cannot be reverse-engineered from feedback. A message no
helper wrote (a plain `assert`, an instructor's own AssertionError, an error) goes through
`redact`, the safety net. Paths of course files are removed either way. Test code never
reaches a message (pytest runs with --assert=plain). grader/export.py uses the same functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from grader.models import Grade, TestResult
from grader.store.overrides import AppliedOverride
from grader.reports.contexts import CellErrorRow, Detail
from grader.reports.feedback_contexts import FeedbackContext, FeedbackSection, FeedbackTestRow
from grader.reports.student import model_rows
from grader.reports.lateness import late_details
from grader.reports.manual import manual_rows
from grader.reports.text import anchor, clean, outcome_css, points, score, shorten, status_css

STYLESHEET = "style.css"
HIDDEN = "[hidden]"
COURSE_FILE = "[course file]"  # as grader.checks.runner writes it
# A printed expected tensor (grader.checks.tensors.assert_equal) runs to the end of the message.
_EXPECTED_BLOCK = re.compile(r"\n\s*expected:\s*\n.*", re.DOTALL | re.IGNORECASE)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|[-+]?inf|nan|True|False"
# "expected 0.25", "expected tensor([...])", "expected value 3": the value goes, the words stay.
_EXPECTED_VALUE = re.compile(
    rf"\b(expected(?: value| result)?\s*(?:=|:)?\s*)(?:tensor\([^)]*\)|\[[-+0-9.,\s e]*\]|{_NUMBER})",
    re.IGNORECASE,
)
# got 0.17 and "the largest error is 0.83" give the expected value away as well.
_ERROR_SIZE = re.compile(
    r"\b((?:largest|max(?:imum)?) (?:absolute )?(?:error|difference) is\s*)[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?",
    re.IGNORECASE,
)
_COURSE_PATH = re.compile(r"(?:/[^\s'\"]*)?/(?:reference|rubrics|tests/hidden)/[^\s'\":,)]*")


def for_student(test: TestResult, limit: int = 1000) -> str:
    """What a student reads of a test's message: the version its check helper wrote for them
    (grader.checks.tensors.CheckFailed) when there is one, else the message through `redact`."""
    if test.student_message is None:
        return redact(test.message, limit)
    return shorten(_COURSE_PATH.sub(COURSE_FILE, clean(test.student_message)), limit)


def redact(message: str, limit: int = 1000) -> str:
    """The safety net for a message that no check helper wrote a student's version of (a plain
    `assert` or an instructor's own AssertionError in a hidden test, a cell error, a grade's
    message): expected values and course paths removed, cleaned, bounded.

    It can only remove what its patterns know ("expected 0.25", "expected tensor(...)", a printed
    "expected:" block, "largest error is 0.83"): a value stated in other words reaches the student.
    Messages from grader.checks.tensors never depend on it; for free-form ones, instructors should
    keep to those wordings or raise CheckFailed with their own `for_student`."""
    text = _EXPECTED_BLOCK.sub("", clean(message))
    text = _EXPECTED_VALUE.sub(lambda m: m.group(1) + HIDDEN, text)
    text = _ERROR_SIZE.sub(lambda m: m.group(1) + HIDDEN, text)
    text = _COURSE_PATH.sub(COURSE_FILE, text)
    return shorten(text, limit)


def feedback_context(
    student: str,
    graded: Sequence[tuple[Grade, Sequence[AppliedOverride]]],
    *,
    title: str,
    generated_at: str,
) -> FeedbackContext:
    """`graded` holds one student's grades after overrides, with the overrides applied to each."""
    graded = sorted(graded, key=lambda item: item[0].assignment)
    return FeedbackContext(
        page_title=f"{clean(title)}: feedback for {clean(student)}",
        stylesheet=STYLESHEET,
        generated_at=generated_at,
        student=clean(student),
        total=score(sum(g.final_score for g, _ in graded), sum(g.max_score for g, _ in graded)),
        sections=tuple(_section(g, audit) for g, audit in graded),
    )


def _section(grade: Grade, audit: Sequence[AppliedOverride]) -> FeedbackSection:
    execution = grade.execution
    metrics, _, _ = model_rows(grade.model_score)
    return FeedbackSection(
        assignment=clean(grade.assignment),
        anchor=anchor(grade.assignment),
        status=grade.status.value,
        css=status_css(grade.status),
        score=score(grade.final_score, grade.max_score),
        message=redact(grade.message),
        cell_errors=tuple(
            CellErrorRow(cell=e.cell, ename=shorten(e.ename, 200), evalue=redact(e.evalue))
            for e in (execution.cell_errors if execution else ())
        ),
        tests=tuple(
            FeedbackTestRow(
                part=clean(t.part),
                name=clean(t.test_id),
                outcome=t.outcome.value,
                css=outcome_css(t.outcome),
                points=score(t.points, t.max_points),
                message=for_student(t),
            )
            for t in grade.tests
        ),
        adjustments=tuple(
            Detail(
                name=(f"{clean(a.override.test_id)}" if a.override.test_id else "whole assignment"),
                value=f"{points(a.before)} → {points(a.after)} points: {shorten(a.override.reason, 500)}",
            )
            for a in audit
            if a.applied
        ),
        metrics=metrics,
        late=late_details(grade),
        manual=manual_rows(grade),
        awaiting_manual=grade.awaiting_manual,
    )
