"""What `grade PATH` prints when it is done: a student x assignment matrix, then what went wrong.

Pure: rows of plain strings from a list of Grades; grader/commands/run.py prints them with rich.
Student names and messages come from student files: they are made one safe line here
(no ANSI codes, no control characters) and bounded, so the matrix keeps its width.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from grader.models import Grade, Status
from grader.reports.text import clean

DASH = "–"  # no notebook handed in: recorded as `missing`, which is no error
NAME_LIMIT = 32  # characters of a student name in the matrix
AWAITING_MARK = "*"  # after a score: a written answer awaits manual grading
GAP = 2  # spaces between the matrix's columns

_LEADING_NUMBER = re.compile(r"\d+")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Cell:
    text: str
    status: Status


@dataclass(frozen=True)
class Matrix:
    """Header labels (`01 (25)`, ..., `homework (20)`) and one row per student, sorted by name."""

    labels: tuple[str, ...]  # one per assignment, sorted by assignment name
    rows: tuple[tuple[str, tuple[Cell, ...]], ...]  # (student, one cell per label)

    def header(self, width: int) -> tuple[str, ...]:
        """The column headers: `student`, then the labels, each on two lines (`01` over `(25)`)
        when on one they make the matrix wider than `width` (the demo class: 102 columns -> 79)."""
        flat = ("student", *self.labels)
        if self.width(flat) <= width:
            return flat
        return ("student", *(label.replace(" ", "\n", 1) for label in self.labels))

    def width(self, header: tuple[str, ...]) -> int:
        """Characters per line with these headers, columns GAP apart."""
        columns = zip(header, *((student, *(c.text for c in cells)) for student, cells in self.rows))
        widths = [max(len(line) for text in column for line in text.split("\n")) for column in columns]
        return sum(widths) + GAP * (len(widths) - 1)


@dataclass(frozen=True)
class Problem:
    """A result that is neither graded nor missing, and why: one line of the summary."""

    student: str
    assignment: str
    label: str  # the assignment as the matrix's column names it: `05`
    status: Status
    message: str


def score_text(score: float) -> str:
    """25.0 -> `25`, 3.4166 -> `3.4`: the matrix shows tenths at most."""
    text = f"{score:.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def short_labels(assignments: Iterable[str]) -> dict[str, str]:
    """Each assignment's leading number (`01_neural_networks` -> `01`), else its whole name.

    Assignments that share a leading number keep their whole names, so no two columns look alike.
    """
    names = sorted(set(assignments))
    numbers = {name: match.group() if (match := _LEADING_NUMBER.match(name)) else name for name in names}
    taken = [numbers[name] for name in names]
    return {name: numbers[name] if taken.count(numbers[name]) == 1 else name for name in names}


def one_line(text: str, limit: int) -> str:
    """Text safe for a terminal, on one line, at most `limit` characters (an ellipsis marks a cut)."""
    text = _WHITESPACE.sub(" ", clean(text)).strip()
    text = "".join(char if char.isprintable() else "\ufffd" for char in text)
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    if (space := cut.rfind(" ")) > limit * 2 // 3:  # end on a whole word when that costs little
        cut = cut[:space]
    return cut.rstrip() + "…"


def cell(grade: Grade | None) -> Cell:
    if grade is None or grade.status is Status.MISSING:
        return Cell(DASH, Status.MISSING)
    if grade.status is Status.GRADED:  # `*`: a written answer awaits manual grading, the score is not final
        return Cell(score_text(grade.final_score) + (AWAITING_MARK if grade.awaiting_manual else ""), Status.GRADED)
    return Cell(grade.status.value, grade.status)


def matrix(grades: Iterable[Grade]) -> Matrix:
    by_key = {(grade.student, grade.assignment): grade for grade in grades}
    assignments = sorted({assignment for _, assignment in by_key})
    students = sorted({student for student, _ in by_key})
    short = short_labels(assignments)
    max_scores: dict[str, float] = {}
    for (_, assignment), grade in by_key.items():  # a missing notebook may carry no maximum
        max_scores[assignment] = max(max_scores.get(assignment, 0.0), grade.max_score)
    labels = tuple(f"{short[a]} ({score_text(max_scores[a])})" for a in assignments)
    rows = tuple(
        (one_line(student, NAME_LIMIT), tuple(cell(by_key.get((student, a))) for a in assignments))
        for student in students
    )
    return Matrix(labels, rows)


def problems(grades: Iterable[Grade]) -> list[Problem]:
    """Timeouts, errors and rejections, by student then assignment; messages not yet cut to width."""
    grades = list(grades)
    short = short_labels(g.assignment for g in grades)
    bad = [g for g in grades if g.status not in (Status.GRADED, Status.MISSING)]
    return [Problem(g.student, g.assignment, short[g.assignment], g.status, g.message)
            for g in sorted(bad, key=lambda g: (g.student, g.assignment))]


def problem_lines(found: list[Problem], width: int) -> list[str]:
    """`student  assignment  status  message`, columns aligned, each line at most `width` characters."""
    if not found:
        return []
    students = [one_line(p.student, NAME_LIMIT) for p in found]
    assignments = [one_line(p.label, NAME_LIMIT) for p in found]  # short, leaving room for the message
    student_width = max(map(len, students))
    assignment_width = max(map(len, assignments))
    status_width = max(len(p.status.value) for p in found)
    lines = []
    for problem, student, assignment in zip(found, students, assignments):
        start = f"{student:<{student_width}}  {assignment:<{assignment_width}}  {problem.status.value:<{status_width}}  "
        lines.append((start + one_line(problem.message, max(width - len(start), 20))).rstrip())
    return lines


def awaiting_line(grades: Iterable[Grade]) -> str:
    """What the summary says under the matrix when written answers await a TA; "" when none does."""
    waiting = [g for g in grades if g.awaiting_manual]
    if not waiting:
        return ""
    parts = sum(1 for g in waiting for m in g.manual if m.awaiting)
    return (f"{AWAITING_MARK} awaiting manual grading: {parts} written answer(s) in {len(waiting)} result(s); "
            "grade them in `grade serve` (the queue) or with `grade manual ASSIGNMENT PART STUDENT --items ...`")
