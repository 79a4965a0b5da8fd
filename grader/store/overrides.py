"""Grades fixed by hand: who changed what, when and why, applied on top of the computed grades.

An override never edits a stored result. It is its own record, made against the result it
corrects (so the original stays readable), and it is applied when grades are read for a
report or an export. The newest override for a (student, assignment, test) wins; an
override of the whole assignment sets its final score and beats test-level ones.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from grader.errors import GradeError
from grader.models import Grade


@dataclass(frozen=True)
class Override:
    """One hand-made change; `test_id` empty means the whole assignment's score."""

    id: int
    student: str
    assignment: str
    test_id: str | None
    points: float
    reason: str
    created_by: str
    created_at: datetime
    result_id: int | None  # the stored result it was made against (its original score is kept there)
    original_points: float  # the points it replaced, as they were when the override was made


@dataclass(frozen=True)
class AppliedOverride:
    """An override as a report shows it: the grade's points before and after."""

    override: Override
    before: float
    after: float
    max_points: float
    applied: bool = True  # False when the test it names is gone from the latest result


def current_user() -> str:
    """The OS user who made an override, for the audit trail (`--by` replaces it)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): the uid is still a name
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def check_override(grade: Grade, test_id: str | None, points: float) -> float:
    """Validate an override against the grade it corrects; returns the points it replaces."""
    if points != points or points < 0:  # NaN or negative
        raise GradeError(f"--points must be 0 or more, not {points}")
    if not test_id:
        if points > grade.max_score:
            raise GradeError(
                f"{grade.assignment} is worth {grade.max_score:g} points; --points {points:g} is more than that"
            )
        return grade.score
    for test in grade.tests:
        if test.test_id == test_id:
            if points > test.max_points:
                raise GradeError(f"{test_id} is worth {test.max_points:g} points; --points {points:g} is more than that")
            return test.points
    known = ", ".join(t.test_id for t in grade.tests) or "none (it has no test results)"
    raise GradeError(
        f"{grade.student}'s {grade.assignment} has no test {test_id!r}; its tests: {known}. "
        "Leave TEST out to override the whole assignment."
    )


def latest_overrides(overrides: Iterable[Override]) -> dict[tuple[str, str, str | None], Override]:
    """The override in force for each (student, assignment, test): the newest one."""
    current: dict[tuple[str, str, str | None], Override] = {}
    for item in sorted(overrides, key=lambda o: o.id):
        current[(item.student, item.assignment, item.test_id or None)] = item
    return current


def apply_overrides(grades: Sequence[Grade], overrides: Iterable[Override]) -> list[Grade]:
    """The grades with every override in force applied; grades without one are returned as they are."""
    return [applied for applied, _ in apply_with_audit(grades, overrides)]


def apply_with_audit(
    grades: Sequence[Grade], overrides: Iterable[Override]
) -> list[tuple[Grade, tuple[AppliedOverride, ...]]]:
    """Each grade after its overrides, with what each override changed (for the reports)."""
    current = latest_overrides(overrides)
    by_pair: dict[tuple[str, str], list[Override]] = {}
    for (student, assignment, _), item in current.items():
        by_pair.setdefault((student, assignment), []).append(item)
    out = []
    for grade in grades:
        found = sorted(by_pair.get((grade.student, grade.assignment), ()), key=lambda o: o.id)
        out.append(_apply(grade, found))
    return out


def _apply(grade: Grade, found: list[Override]) -> tuple[Grade, tuple[AppliedOverride, ...]]:
    if not found:
        return grade, ()
    audit = []
    tests = list(grade.tests)
    for item in (o for o in found if o.test_id):
        for i, test in enumerate(tests):
            if test.test_id == item.test_id:
                audit.append(AppliedOverride(item, test.points, item.points, test.max_points))
                tests[i] = replace(test, points=item.points)
                break
        # A test the latest result no longer has (the rubric changed) is shown, not applied.
        else:
            audit.append(AppliedOverride(item, item.original_points, item.points, 0.0, applied=False))
    score = grade.score + sum(t.points - old.points for t, old in zip(tests, grade.tests))
    whole = [o for o in found if not o.test_id]
    if whole:
        item = whole[-1]
        audit.append(AppliedOverride(item, score, item.points, grade.max_score))
        score = item.points
    return replace(grade, tests=tuple(tests), score=score), tuple(audit)
