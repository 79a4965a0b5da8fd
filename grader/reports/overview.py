"""The class overview (index.html): table, score chart, statistics, pass rates, problems, signals."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class KnownParts:
    """Parts of an earlier overview that still hold, for `index_context` to reuse rather than redo.

    Site.revised passes them when only the TAs' points changed (manual grades, overrides) for a few
    students: the other students' rows and the other assignments' statistics are as they were, and
    no test's outcome changed, so the pass rates are too (the flags, unless a signal changed). At
    600 students they are most of the work.
    """

    rows: Mapping[str, StudentRow] = field(default_factory=dict)  # by student id
    pass_rates: tuple[PassRateRow, ...] | None = None
    flags: tuple[FlagRow, ...] | None = None
    stats: Mapping[str, AssignmentStatsRow] = field(default_factory=dict)  # by assignment


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
    known: KnownParts = KnownParts(),
) -> IndexContext:
    """`grades` after overrides; `audits` and `originals` (as computed) line up with them when given.
    `roster`: the students on the course's roster; a graded student not on it is flagged (none without one).
    `known`: parts of an earlier overview still true for these grades (see KnownParts)."""
    grades = list(grades)
    audits = list(audits) or [()] * len(grades)
    originals = list(originals) or grades
    overridden = {(g.student, g.assignment) for g, audit in zip(grades, audits) if audit}
    assignments = tuple(sorted({g.assignment for g in grades}))
    groups = by_student(grades)
    per_assignment: dict[str, list[Grade]] = {a: [] for a in assignments}
    for grade in grades:
        per_assignment[grade.assignment].append(grade)

    students = []
    shares = []
    for student, student_grades in groups.items():
        row = known.rows.get(student)
        students.append(row or student_row(student, student_grades, overridden, assignments))
        got, possible = sum(g.final_score for g in student_grades), sum(g.max_score for g in student_grades)
        shares.append(got / possible if possible else 0.0)
    counts = Counter((g.assignment, g.status) for g in grades)

    return IndexContext(
        page_title=clean(title),
        stylesheet=STYLESHEET,
        generated_at=generated_at,
        assignments=tuple(clean(a) for a in assignments),
        students=tuple(students),
        statuses=tuple(s.value for s in Status),
        status_counts=tuple(
            StatusCountRow(assignment=clean(a), counts=tuple(counts[a, s] for s in Status)) for a in assignments
        ),
        status_totals=tuple(sum(counts[a, s] for a in assignments) for s in Status),
        pass_rates=pass_rates(grades, assignments) if known.pass_rates is None else known.pass_rates,
        chart=score_chart(shares),
        assignment_stats=tuple(known.stats.get(a) or _stats(a, per_assignment[a]) for a in assignments),
        metric_summary=_metric_summary(per_assignment),
        problems=tuple(
            ProblemRow(
                student=clean(g.student),
                href=f"{student_page(g.student)}#{anchor(g.assignment)}",
                assignment=clean(g.assignment),
                status=g.status.value,
                css=status_css(g.status),
                message=shorten(g.message, 300),
            )
            for g in sorted((g for g in grades if g.status in _PROBLEMS),
                            key=lambda g: (g.assignment, g.student.casefold(), g.student))
        ),
        flags=_flags(originals) if known.flags is None else known.flags,
        overrides=overrides,
        runs=runs,
        strangers=tuple(StrangerRow(student=clean(s), href=student_page(s), assignments=len(groups[s]))
                        for s in strangers(groups, roster)),
        similarity=similarity,
    )


def student_row(student: str, grades: Sequence[Grade], overridden: Container[tuple[str, str]],
                assignments: Sequence[str]) -> StudentRow:
    """One student's row of the class table: a cell per assignment (empty where they have no grade)."""
    href = student_page(student)
    found = {g.assignment: g for g in grades}
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
    got, possible = sum(g.final_score for g in grades), sum(g.max_score for g in grades)
    return StudentRow(student=clean(student), href=href, cells=cells, total=score(got, possible))


def _flags(originals: Sequence[Grade]) -> tuple[FlagRow, ...]:
    return tuple(
        FlagRow(
            student=clean(g.student),
            href=f"{student_page(g.student)}#{anchor(g.assignment)}",
            assignment=clean(g.assignment),
            signals=signals,
        )
        for g in sorted(originals, key=lambda g: (g.student.casefold(), g.student, g.assignment))
        if (signals := tamper_signals(g))
    )


def strangers(students: Iterable[str], roster: Iterable[str]) -> list[str]:
    """Students with a result who are not on the roster (none when there is no roster)."""
    known = set(roster)
    return sorted(set(students) - known, key=lambda s: (s.casefold(), s)) if known else []


def pass_rates(grades: Sequence[Grade], assignments: Sequence[str]) -> tuple[PassRateRow, ...]:
    """Per assignment, each test's pass count, in the order the check stage reported tests."""
    rows = []
    per_assignment: dict[str, list[Grade]] = {a: [] for a in assignments}
    for grade in grades:
        if grade.assignment in per_assignment:
            per_assignment[grade.assignment].append(grade)
    for assignment in assignments:
        tally: dict[str, list[Any]] = {}  # test_id -> [part, passed, total]
        for grade in sorted(per_assignment[assignment], key=lambda g: g.student):
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
        full_marks=sum(1 for g, got in zip(submitted, scores) if g.max_score and got >= g.max_score),
        timeouts=sum(1 for g in grades if g.status is Status.TIMEOUT),
        errors=sum(1 for g in grades if g.status in (Status.ERROR, Status.REJECTED)),
    )


def _metric_summary(per_assignment: Mapping[str, Sequence[Grade]]) -> tuple[MetricSummaryRow, ...]:
    rows = []
    for assignment, grades in per_assignment.items():
        values: dict[str, list[float]] = {}
        for grade in grades:
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
