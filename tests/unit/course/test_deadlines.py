"""grader/course/deadlines.py: due times, extensions, trusted submission times, and what lateness costs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from grader.course.config import LatePolicy
from grader.course.deadlines import Schedule, load_schedule, load_submission_times
from grader.errors import InstructorError

DUE = datetime(2026, 11, 2, 23, 59, tzinfo=timezone(timedelta(hours=1)))
POLICY = LatePolicy(per_day_percent=10, grace_minutes=15, max_days_late=3)
SCHEDULE = Schedule(deadlines={"nb": DUE}, policy=POLICY)


def after(**delta: float) -> datetime:
    return DUE + timedelta(**delta)


@pytest.mark.parametrize("submitted, days, percent", [
    (after(hours=-3), 0, 0.0),  # early
    (DUE, 0, 0.0),  # on the dot
    (after(minutes=15), 0, 0.0),  # the last minute of the grace period
    (after(minutes=16), 1, 10.0),  # after it: the day started counts from the deadline
    (after(hours=24), 1, 10.0),
    (after(hours=24, seconds=1), 2, 20.0),  # every started day is a whole one
    (after(days=3), 3, 30.0),  # the last day accepted
    (after(days=3, minutes=1), 4, 100.0),  # past max_days_late: everything
])
def test_every_started_day_after_the_deadline_counts(submitted: datetime, days: int, percent: float) -> None:
    late = SCHEDULE.lateness("ada", "nb", submitted)
    assert late is not None and (late.days_late, late.penalty_percent) == (days, percent)
    assert late.due_at == DUE and late.submitted_at == submitted and not late.extended


def test_the_penalty_stops_at_everything_without_a_last_day() -> None:
    schedule = Schedule(deadlines={"nb": DUE}, policy=LatePolicy(per_day_percent=30))
    assert schedule.lateness("ada", "nb", after(days=5)).penalty_percent == 100.0  # type: ignore[union-attr]


def test_no_deadline_no_lateness_and_no_time_no_penalty() -> None:
    assert SCHEDULE.lateness("ada", "other", after(days=9)) is None
    unknown = SCHEDULE.lateness("ada", "nb", None)
    assert unknown is not None and unknown.penalty_percent == 0 and unknown.submitted_at is None


def test_an_extension_for_the_assignment_beats_one_for_all_and_the_deadline(tmp_path: Path) -> None:
    (tmp_path / "extensions.csv").write_text("student,assignment,due\nada,*,2026-11-04T23:59:00+01:00\n"
                                             "ada,nb,2026-11-09T23:59:00+01:00\nbob,*,2026-11-05T00:00:00Z\n")
    schedule = load_schedule(tmp_path, {"nb": DUE, "hw": DUE}, POLICY, ["nb", "hw"])
    assert schedule.due("ada", "nb") == (datetime.fromisoformat("2026-11-09T23:59:00+01:00"), True)
    assert schedule.due("ada", "hw") == (datetime.fromisoformat("2026-11-04T23:59:00+01:00"), True)
    assert schedule.due("cy", "nb") == (DUE, False)
    late = schedule.lateness("bob", "nb", datetime.fromisoformat("2026-11-06T00:30:00Z"))
    assert late is not None and late.extended and late.days_late == 2


@pytest.mark.parametrize("rows, message", [
    ("ada,nb", "header must be student,assignment,due"),
    ("student,assignment,due\nada,nope,2026-11-02T23:59:00Z", "unknown assignment 'nope'"),
    ("student,assignment,due\nada,nb,2026-11-02", "row 2's due is not an ISO 8601 time|no time zone"),
    ("student,assignment,due\nada,nb,2026-11-02T10:00:00Z\nada,nb,2026-11-03T10:00:00Z", "second extension"),
    ("student,assignment,due\n,nb,2026-11-02T10:00:00Z", "row 2 needs a student"),
])
def test_a_bad_extensions_file_names_the_row_and_the_fix(tmp_path: Path, rows: str, message: str) -> None:
    (tmp_path / "extensions.csv").write_text(rows + "\n")
    with pytest.raises(InstructorError, match=message):
        load_schedule(tmp_path, {"nb": DUE}, POLICY, ["nb"])


def test_the_manifest_gives_a_time_per_assignment_or_for_all(tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text("\ufeffstudent,assignment,submitted_at\nada,*,2026-11-01T10:00:00Z\nada,nb,2026-11-03T10:00:00Z\n")
    times = load_submission_times(path, ["nb", "hw"])
    assert times.get("ada", "nb") == datetime(2026, 11, 3, 10, tzinfo=timezone.utc)
    assert times.get("ada", "hw") == datetime(2026, 11, 1, 10, tzinfo=timezone.utc)
    assert times.get("bob", "nb") is None
    with pytest.raises(InstructorError, match="no such file"):
        load_submission_times(tmp_path / "none.csv", ["nb"])
