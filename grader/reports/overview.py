"""The class overview (index.html): table, score chart, statistics, pass rates, problems, signals."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from grader.models import Grade, Outcome, Status
from grader.store.overrides import AppliedOverride
from grader.reports.chart import score_chart
from grader.reports.contexts import (
    AssignmentStatsRow,
    FlagRow,
    IndexContext,
    MetricSummaryRow,
    OverrideNote,
    PassRateRow,
    ProblemRow,
    RunLink,
    ScoreCell,
    SimilarityLink,
    StatusCountRow,
    StrangerRow,
    StudentRow,
)
from grader.reports.lateness import late_badge, late_note
from grader.reports.signals import tamper_signals
from grader.reports.student import model_numbers
from grader.reports.text import (
    anchor,
    clean,
    percent,
    points,
    score,
    shorten,
    status_css,
    student_page,
    page_of_test,
)

STYLESHEET = "static/style.css"
_PROBLEMS = (Status.TIMEOUT, Status.ERROR, Status.REJECTED)


def by_student(grades: Sequence[Grade]) -> dict[str, list[Grade]]:
    """Grades grouped by student, students in a stable, case-insensitive order."""
    groups: dict[str, list[Grade]] = {}
    seen: set[tuple[str, str]] = set()
    for grade in grades:
        key = (grade.student, grade.assignment)
        if key in seen:
            raise ValueError(
                f"two grades for student {grade.student!r}, assignment {grade.assignment!r}; "
                "pass one grade per (student, assignment), e.g. the latest run's"
            )
        seen.add(key)
        groups.setdefault(grade.student, []).append(grade)
    return {s: groups[s] for s in sorted(groups, key=lambda s: (s.casefold(), s))}


def index_context(
    grades: Sequence[Grade],
    *,
    title: str,
    generated_at: str,
    audits: Sequence[tuple[AppliedOverride, ...]] = (),
    originals: Sequence[Grade] = (),
    overrides: tuple[OverrideNote, ...] = (),
    runs: tuple[RunLink, ...] = (),
    roster: Iterable[str] = (),
    similarity: tuple[SimilarityLink, ...] = (),
) -> IndexContext:
    """`grades` after overrides; `audits` and `originals` (as computed) line up with them when given.
    `roster`: the students on the course's roster; a graded student not on it is flagged (none without one)."""
    grades = list(grades)
    audits = list(audits) or [()] * len(grades)
    originals = list(originals) or grades
    overridden = {(g.student, g.assignment) for g, audit in zip(grades, audits) if audit}
    assignments = tuple(sorted({g.assignment for g in grades}))
    groups = by_student(grades)

    students = []
    shares = []
    for student, student_grades in groups.items():
        href = student_page(student)
        found = {g.assignment: g for g in student_grades}
        cells = tuple(
            ScoreCell(
                status=g.status.value,
                css=status_css(g.status),
                score=score(g.final_score, g.max_score),
                href=f"{href}#{anchor(a)}",
                overridden=(student, a) in overridden,
                late=late_badge(g),
                late_note=late_note(g),
                awaiting=g.awaiting_manual,
            )
            if (g := found.get(a))
            else ScoreCell(status="", css="status-none", score="—", href="")
            for a in assignments
        )
        got, possible = sum(g.final_score for g in student_grades), sum(g.max_score for g in student_grades)
        shares.append(got / possible if possible else 0.0)
        students.append(StudentRow(student=clean(student), href=href, cells=cells, total=score(got, possible)))

    return IndexContext(
        page_title=clean(title),
        stylesheet=STYLESHEET,
        generated_at=generated_at,
        assignments=tuple(clean(a) for a in assignments),
        students=tuple(students),
        statuses=tuple(s.value for s in Status),
        status_counts=tuple(
            StatusCountRow(
                assignment=clean(a),
                counts=tuple(sum(1 for g in grades if g.assignment == a and g.status == s) for s in Status),
            )
            for a in assignments
        ),
        status_totals=tuple(sum(1 for g in grades if g.status == s) for s in Status),
        pass_rates=pass_rates(grades, assignments),
        chart=score_chart(shares),
        assignment_stats=tuple(_stats(a, [g for g in grades if g.assignment == a]) for a in assignments),
        metric_summary=_metric_summary(grades, assignments),
        problems=tuple(
            ProblemRow(
                student=clean(g.student),
                href=f"{student_page(g.student)}#{anchor(g.assignment)}",
                assignment=clean(g.assignment),
                status=g.status.value,
                css=status_css(g.status),
                message=shorten(g.message, 300),
            )
            for g in sorted(grades, key=lambda g: (g.assignment, g.student.casefold(), g.student))
            if g.status in _PROBLEMS
        ),
        flags=tuple(
            FlagRow(
                student=clean(g.student),
                href=f"{student_page(g.student)}#{anchor(g.assignment)}",
                assignment=clean(g.assignment),
                signals=signals,
            )
            for g in sorted(originals, key=lambda g: (g.student.casefold(), g.student, g.assignment))
            if (signals := tamper_signals(g))
        ),
        overrides=overrides,
        runs=runs,
        strangers=tuple(StrangerRow(student=clean(s), href=student_page(s), assignments=len(groups[s]))
                        for s in strangers(groups, roster)),
        similarity=similarity,
    )


def strangers(students: Iterable[str], roster: Iterable[str]) -> list[str]:
    """Students with a result who are not on the roster (none when there is no roster)."""
    known = set(roster)
    return sorted(set(students) - known, key=lambda s: (s.casefold(), s)) if known else []


def pass_rates(grades: Sequence[Grade], assignments: Sequence[str]) -> tuple[PassRateRow, ...]:
    """Per assignment, each test's pass count, in the order the check stage reported tests."""
    rows = []
    for assignment in assignments:
        tally: dict[str, list[Any]] = {}  # test_id -> [part, passed, total]
        for grade in sorted((g for g in grades if g.assignment == assignment), key=lambda g: g.student):
            for test in grade.tests:
                entry = tally.setdefault(test.test_id, [test.part, 0, 0])
                entry[1] += test.outcome is Outcome.PASSED
                entry[2] += 1
        rows.extend(
            PassRateRow(
                assignment=clean(assignment),
                test_id=clean(test_id),
                part=clean(part),
                passed=passed,
                total=total,
                percent=percent(passed, total),
                href=page_of_test(assignment, test_id),
            )
            for test_id, (part, passed, total) in tally.items()
        )
    return tuple(rows)


def _stats(assignment: str, grades: list[Grade]) -> AssignmentStatsRow:
    """Statistics over the submissions handed in (a missing one would only pull the mean to 0)."""
    submitted = [g for g in grades if g.status is not Status.MISSING]
    scores = [g.final_score for g in submitted]
    max_score = max((g.max_score for g in grades), default=0.0)

    def fmt(x: float | None) -> str:
        return "—" if x is None else points(round(x, 2))

    return AssignmentStatsRow(
        assignment=clean(assignment),
        max_score=points(max_score),
        submitted=len(submitted),
        mean=fmt(statistics.fmean(scores) if scores else None),
        median=fmt(statistics.median(scores) if scores else None),
        stdev=fmt(statistics.pstdev(scores) if scores else None),
        low=fmt(min(scores, default=None)),
        high=fmt(max(scores, default=None)),
        full_marks=sum(1 for g in submitted if g.max_score and g.final_score >= g.max_score),
        timeouts=sum(1 for g in grades if g.status is Status.TIMEOUT),
        errors=sum(1 for g in grades if g.status in (Status.ERROR, Status.REJECTED)),
    )


def _metric_summary(grades: Sequence[Grade], assignments: Sequence[str]) -> tuple[MetricSummaryRow, ...]:
    rows = []
    for assignment in assignments:
        values: dict[str, list[float]] = {}
        for grade in grades:
            if grade.assignment != assignment:
                continue
            for name, number in model_numbers(grade.model_score) if grade.model_score else ():
                values.setdefault(name, []).append(float(number))
        rows.extend(
            MetricSummaryRow(
                assignment=clean(assignment),
                metric=clean(key),
                count=len(found),
                mean=f"{statistics.fmean(found):.4g}",
                low=f"{min(found):.4g}",
                high=f"{max(found):.4g}",
            )
            for key, found in sorted(values.items())
        )
    return tuple(rows)
