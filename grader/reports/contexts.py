"""The typed contexts the templates are fed: one frozen dataclass per page, rows as small values.

Templates only lay these out; a test asserts each template uses exactly its context's
fields. Every string here is already cleaned (grader.reports.text) and is escaped by Jinja.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


# -- shared rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Detail:
    name: str
    value: str


@dataclass(frozen=True)
class ManualRow:
    """A manual part (a written answer) as the pages show it: its points, or "awaiting manual
    grading"; the applied rubric items; the TA's comment (grader/reports/manual.py builds it)."""

    part: str
    points: str  # "3 / 4", or "— / 4" until graded
    status: str  # "graded", "awaiting manual grading", or why it awaits again
    css: str
    items: tuple[Detail, ...]  # name: the item's points ("+2", "−1"); value: its description
    adjustment: str  # "+0.5 points", or ""
    comment: str
    graded_by: str  # "tom, 2026-12-03 10:20 UTC", or ""
    answer: str = ""  # the student's answer (escaped text), on staff pages only
    key: str = ""  # the part's answer id, as the grading pages' paths name it (/grading/<a>/<key>/<student>)


@dataclass(frozen=True)
class OverrideNote:
    """A hand-made change as the reports show it, with its audit trail."""

    student: str
    student_href: str
    assignment: str
    target: str  # "whole assignment" or the test id
    before: str
    after: str
    by: str
    when: str
    reason: str
    applied: bool


@dataclass(frozen=True)
class SignalRow:
    """A sign that a submission tried to tamper with grading; for a human to look at, not a verdict."""

    kind: str
    evidence: str


# -- class overview (index.html) -------------------------------------------------------------


@dataclass(frozen=True)
class ScoreCell:
    """One (student, assignment) cell of the class table; empty when no grade exists."""

    status: str
    css: str
    score: str
    href: str
    overridden: bool = False
    late: str = ""  # e.g. "2 d late −4" (grader.reports.lateness.late_badge)
    late_note: str = ""  # e.g. "raw 15 / 20, late penalty 4, final 11 / 20"
    awaiting: bool = False  # a manual part is not graded yet: the score is not final


@dataclass(frozen=True)
class StrangerRow:
    """A student graded but not on the course's roster: worth a look, never dropped."""

    student: str
    href: str
    assignments: int  # results recorded for them


@dataclass(frozen=True)
class StudentRow:
    student: str
    href: str
    cells: tuple[ScoreCell, ...]
    total: str


@dataclass(frozen=True)
class PassRateRow:
    """How many of the submissions whose tests ran passed one test."""

    assignment: str
    test_id: str
    part: str
    passed: int
    total: int
    percent: int
    href: str = ""


@dataclass(frozen=True)
class StatusCountRow:
    assignment: str
    counts: tuple[int, ...]  # in the order of IndexContext.statuses


@dataclass(frozen=True)
class ChartBar:
    """One bar of the score histogram, its geometry computed in Python (templates never compute)."""

    x: int
    y: int
    width: int
    height: int
    label: str
    label_x: int
    count: int
    count_y: int
    title: str


@dataclass(frozen=True)
class ScoreChart:
    width: int
    height: int
    baseline: int
    label_y: int
    bars: tuple[ChartBar, ...]
    caption: str


@dataclass(frozen=True)
class AssignmentStatsRow:
    assignment: str
    max_score: str
    submitted: int
    mean: str
    median: str
    stdev: str
    low: str
    high: str
    full_marks: int
    timeouts: int
    errors: int


@dataclass(frozen=True)
class MetricSummaryRow:
    """A homework metric (Grade.model_score) summarised over the class."""

    assignment: str
    metric: str
    count: int
    mean: str
    low: str
    high: str


@dataclass(frozen=True)
class ProblemRow:
    """A submission that timed out, errored or was rejected."""

    student: str
    href: str
    assignment: str
    status: str
    css: str
    message: str


@dataclass(frozen=True)
class FlagRow:
    student: str
    href: str
    assignment: str
    signals: tuple[SignalRow, ...]


@dataclass(frozen=True)
class SimilarityLink:
    """A `grade similarity` page found in the report's similarity/ folder."""

    assignment: str
    href: str


@dataclass(frozen=True)
class RunLink:
    run_id: int
    href: str
    started: str
    status: str
    results: int
    reused: int
    changed: int


@dataclass(frozen=True)
class IndexContext:
    page_title: str
    stylesheet: str
    generated_at: str
    assignments: tuple[str, ...]
    students: tuple[StudentRow, ...]
    statuses: tuple[str, ...]
    status_counts: tuple[StatusCountRow, ...]
    status_totals: tuple[int, ...]
    pass_rates: tuple[PassRateRow, ...]
    chart: ScoreChart | None = None
    assignment_stats: tuple[AssignmentStatsRow, ...] = ()
    metric_summary: tuple[MetricSummaryRow, ...] = ()
    problems: tuple[ProblemRow, ...] = ()
    flags: tuple[FlagRow, ...] = ()
    overrides: tuple[OverrideNote, ...] = ()
    runs: tuple[RunLink, ...] = ()
    strangers: tuple[StrangerRow, ...] = ()
    similarity: tuple[SimilarityLink, ...] = ()


# -- one page per student ----------------------------------------------------------------------


@dataclass(frozen=True)
class CellErrorRow:
    cell: int
    ename: str
    evalue: str


@dataclass(frozen=True)
class TestRow:
    test_id: str
    part: str
    outcome: str
    css: str
    points: str
    message: str
    href: str = ""
    overridden: bool = False


@dataclass(frozen=True)
class Matrix:
    """A confusion matrix from Grade.model_score: rows are true labels, columns predicted ones."""

    name: str
    labels: tuple[str, ...]
    rows: tuple[tuple[str, tuple[int | float, ...]], ...]


@dataclass(frozen=True)
class FigureImage:
    """A figure the notebook drew, as an inert image: a data: URI of checked base64 (never markup)."""

    src: str
    caption: str


@dataclass(frozen=True)
class AssignmentSection:
    assignment: str
    anchor: str
    status: str
    css: str
    score: str
    message: str
    duration: str
    unsandboxed: bool
    execution_message: str
    cell_errors: tuple[CellErrorRow, ...]
    tests: tuple[TestRow, ...]
    excerpt: str
    excerpt_note: str
    details: tuple[Detail, ...]
    fingerprint: tuple[Detail, ...]
    metrics: tuple[Detail, ...] = ()
    matrices: tuple[Matrix, ...] = ()
    signals: tuple[SignalRow, ...] = ()
    overrides: tuple[OverrideNote, ...] = ()
    computed_score: str = ""  # the score before overrides, when one applies
    figures: tuple[FigureImage, ...] = ()
    late: tuple[Detail, ...] = ()  # due, handed in, raw score, late penalty, final score
    manual: tuple[ManualRow, ...] = ()  # written answers graded by hand
    awaiting_manual: bool = False


@dataclass(frozen=True)
class StudentPageContext:
    page_title: str
    stylesheet: str
    generated_at: str
    report_title: str
    index_href: str
    student: str
    total: str
    sections: tuple[AssignmentSection, ...]


# -- one page per test ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StudentLink:
    student: str
    href: str
    outcome: str
    css: str
    points: str


@dataclass(frozen=True)
class FailureGroup:
    """Students whose test failed with the same message."""

    message: str
    count: int
    students: tuple[StudentLink, ...]


@dataclass(frozen=True)
class TestPageContext:
    page_title: str
    stylesheet: str
    generated_at: str
    report_title: str
    index_href: str
    assignment: str
    test_id: str
    part: str
    max_points: str
    passed: int
    total: int
    percent: int
    groups: tuple[FailureGroup, ...]
    passed_students: tuple[StudentLink, ...]


# -- one page per run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestChange:
    test_id: str
    before: str
    after: str


class ChangeKind(StrEnum):
    """What a run did to a (student, assignment), as the run page prints it."""

    NEW = "new"  # no earlier result
    RESUBMITTED = "resubmitted"  # a different submission
    REGRADED = "regraded"  # the same submission graded again (tests, reference, rubric or grader changed, --force)


@dataclass(frozen=True)
class ChangeRow:
    """One (student, assignment) graded in a run, against the previous result for it."""

    student: str
    href: str
    assignment: str
    kind: ChangeKind
    status_before: str
    status_after: str
    before: str
    after: str
    delta: str
    changed: bool
    tests: tuple[TestChange, ...]


@dataclass(frozen=True)
class RunPageContext:
    page_title: str
    stylesheet: str
    generated_at: str
    report_title: str
    index_href: str
    run_id: int
    summary: tuple[Detail, ...]
    previous_href: str
    next_href: str
    counts: tuple[Detail, ...]
    changes: tuple[ChangeRow, ...]
    changed_scores: tuple[ChangeRow, ...]
