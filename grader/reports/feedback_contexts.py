"""The typed context of a student's feedback page (grade feedback): the pieces a student may see
of each graded assignment, expected values already redacted. Rows it shares with the staff's
pages (Detail, CellErrorRow, ManualRow) live in grader/reports/contexts.py."""

from __future__ import annotations

from dataclasses import dataclass

from grader.reports.contexts import CellErrorRow, Detail, ManualRow


@dataclass(frozen=True)
class FeedbackTestRow:
    part: str
    name: str
    outcome: str
    css: str
    points: str
    message: str


@dataclass(frozen=True)
class FeedbackSection:
    assignment: str
    anchor: str
    status: str
    css: str
    score: str
    message: str
    cell_errors: tuple[CellErrorRow, ...]
    tests: tuple[FeedbackTestRow, ...]
    adjustments: tuple[Detail, ...]
    metrics: tuple[Detail, ...]
    late: tuple[Detail, ...] = ()
    manual: tuple[ManualRow, ...] = ()
    awaiting_manual: bool = False


@dataclass(frozen=True)
class FeedbackContext:
    page_title: str
    stylesheet: str
    generated_at: str
    student: str
    total: str
    sections: tuple[FeedbackSection, ...]
