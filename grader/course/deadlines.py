"""Deadlines, extensions and submission times: how late each hand-in was, and what that costs.

The due time of (student, assignment) is the student's extension (extensions.csv at the course
root: `student,assignment,due`, assignment `*` for every one) or else the course's deadline
(course.yaml `deadlines:`). Submission times come only from what the instructor trusts: a
manifest (`grade PATH --submitted-at FILE`: `student,assignment,submitted_at`, assignment `*`
for every one; a row for the assignment beats a `*` row), or commit dates when the instructor
passes --trust-commit-dates (grader/pipeline/policy.py reads them). Never file times.

How late, as the common LMSs count it: inside the grace period a hand-in is on time; after it,
every started day (24 h) after the due time counts as a whole day, and each day takes
late_policy.per_day_percent of the points possible (at most 100 %); after max_days_late days
the work scores 0, and is still graded, so the student gets feedback.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from grader.course.config import LatePolicy, due_time
from grader.errors import InstructorError, course_file
from grader.models import Lateness

EXTENSIONS_FILE = "extensions.csv"
EVERY_ASSIGNMENT = "*"
DAY_S = 24 * 3600


@dataclass(frozen=True)
class Schedule:
    """The course's deadlines, late policy and extensions."""

    deadlines: Mapping[str, datetime] = field(default_factory=dict)
    policy: LatePolicy = field(default_factory=LatePolicy)
    extensions: Mapping[tuple[str, str], datetime] = field(default_factory=dict)  # (student, assignment or *)

    def due(self, student: str, assignment: str) -> tuple[datetime, bool] | None:
        """The due time and whether it is an extension; None when the assignment has no deadline."""
        for key in ((student, assignment), (student, EVERY_ASSIGNMENT)):
            if key in self.extensions:
                return self.extensions[key], True
        if assignment in self.deadlines:
            return self.deadlines[assignment], False
        return None

    def lateness(self, student: str, assignment: str, submitted_at: datetime | None) -> Lateness | None:
        due = self.due(student, assignment)
        if due is None:
            return None
        due_at, extended = due
        if submitted_at is None:  # no trusted time: nothing to hold against the student
            return Lateness(due_at=due_at, submitted_at=None, extended=extended)
        late_s = (submitted_at - due_at).total_seconds()
        if late_s <= 0:
            return Lateness(due_at=due_at, submitted_at=submitted_at, extended=extended)
        policy = self.policy
        if late_s <= policy.grace_minutes * 60:
            return Lateness(due_at=due_at, submitted_at=submitted_at, extended=extended,
                            message=f"handed in {_minutes(late_s)} after the due time, inside the grace period "
                                    f"of {policy.grace_minutes:g} minutes: no penalty")
        days = math.ceil(late_s / DAY_S)
        late = f"handed in {days} day{'s' if days != 1 else ''} late"
        if policy.max_days_late is not None and days > policy.max_days_late:
            return Lateness(due_at=due_at, submitted_at=submitted_at, days_late=days, penalty_percent=100.0,
                            extended=extended,
                            message=f"{late}, after the last day late work is accepted ({policy.max_days_late} "
                                    "days): it scores 0; it was still graded so that you get feedback")
        percent = min(100.0, days * policy.per_day_percent)
        return Lateness(due_at=due_at, submitted_at=submitted_at, days_late=days, penalty_percent=percent,
                        extended=extended,
                        message=f"{late}: {percent:g}% of the points possible deducted "
                                f"({policy.per_day_percent:g}% per started day)")


def _minutes(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@dataclass(frozen=True)
class SubmissionTimes:
    """When each (student, assignment) was handed in, as a trusted source says."""

    times: Mapping[tuple[str, str], datetime] = field(default_factory=dict)  # (student, assignment or *)

    def get(self, student: str, assignment: str) -> datetime | None:
        return self.times.get((student, assignment)) or self.times.get((student, EVERY_ASSIGNMENT))

    def merged_under(self, other: SubmissionTimes) -> SubmissionTimes:
        """These times where `other` has none for the same key (other wins)."""
        return SubmissionTimes({**self.times, **other.times})


def load_schedule(root: Path, deadlines: Mapping[str, datetime], policy: LatePolicy,
                  assignments: Iterable[str]) -> Schedule:
    """The schedule of the course at `root`: course.yaml's deadlines and policy, and extensions.csv if any."""
    path = root / EXTENSIONS_FILE
    extensions: dict[tuple[str, str], datetime] = {}
    if path.is_file():
        extensions = _read_times(path, "due", set(assignments), "extension")
    return Schedule(deadlines=dict(deadlines), policy=policy, extensions=extensions)


def load_submission_times(path: Path, assignments: Iterable[str]) -> SubmissionTimes:
    """The manifest given with --submitted-at: `student,assignment,submitted_at`."""
    if not path.is_file():
        raise InstructorError(f"--submitted-at {path}: no such file; give the CSV of student,assignment,submitted_at")
    return SubmissionTimes(_read_times(path, "submitted_at", set(assignments), "submission time"))


def _read_times(path: Path, column: str, assignments: set[str], what: str) -> dict[tuple[str, str], datetime]:
    where = course_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InstructorError(f"{where} is not UTF-8 text ({exc}); save it as CSV UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or ()]
    if not {"student", "assignment", column} <= set(header):
        raise InstructorError(f"{where}: the header must be student,assignment,{column}, not {','.join(header)!r}")
    reader.fieldnames = header
    times: dict[tuple[str, str], datetime] = {}
    for number, row in enumerate(reader, start=2):
        student, assignment = (row.get("student") or "").strip(), (row.get("assignment") or "").strip()
        if not student or not assignment:
            raise InstructorError(f"{where}: row {number} needs a student and an assignment "
                                  f"({EVERY_ASSIGNMENT} for all)")
        if assignment != EVERY_ASSIGNMENT and assignment not in assignments:
            raise InstructorError(f"{where}: row {number} names the unknown assignment {assignment!r}; "
                                  f"the assignments are {', '.join(sorted(assignments))} (or {EVERY_ASSIGNMENT})")
        if (student, assignment) in times:
            raise InstructorError(f"{where}: row {number} gives {student}'s {assignment} a second {what}; keep one row")
        try:
            times[(student, assignment)] = due_time(row.get(column) or "", f"row {number}'s {column}")
        except ValueError as exc:
            raise InstructorError(f"{where}: {exc}") from exc
    return times
