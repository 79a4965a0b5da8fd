"""The course's policy over a class: every roster student has a result, and every result its lateness.

`grade PATH` (grader/pipeline/folder.py) and `grade policy` use it. The late policy is a step
after grading (`CoursePolicy.apply`, the `finish` of grade_class): it sets a Grade's `late` from
the schedule (grader/course/deadlines.py) and the trusted submission time, and never touches
what the tests gave, so a changed deadline, policy or extension reaches every stored result
without running a notebook again. Where no time is given this time, a reused result keeps
the time a trusted source gave for the same submission before.

Order, when grades are read: overrides first (they fix the work's raw score), then the late
penalty: final = max(0, raw with overrides - penalty), the penalty a percentage of the points
possible. To waive a penalty, grant an extension; an override does not.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from grader.course.assignments import Course
from grader.course.deadlines import Schedule, SubmissionTimes, load_schedule, load_submission_times
from grader.course.roster import Roster, load_roster
from grader.discover import missing, student_folders
from grader.models import Grade, RunState, Status, StudentFolder, Submission
from grader.pipeline.submission import unopened_grade
from grader.store.gradebook import Gradebook

GIT_TIMEOUT_S = 10


@dataclass(frozen=True)
class CoursePolicy:
    schedule: Schedule
    times: SubmissionTimes
    roster: Roster | None  # None: the course has no roster.csv

    def apply(self, grade: Grade) -> Grade:
        """The grade with its lateness as the schedule says now (none for a missing hand-in)."""
        if grade.status is Status.MISSING:
            return replace(grade, late=None)
        submitted = self.times.get(grade.student, grade.assignment)
        if submitted is None and grade.late is not None:
            submitted = grade.late.submitted_at
        return replace(grade, late=self.schedule.lateness(grade.student, grade.assignment, submitted))

    def missing(self, course: Course, root: Path, present: Iterable[str],
                only: frozenset[str] = frozenset()) -> list[Submission]:
        """A missing submission for every assignment of each roster student with no folder under root."""
        if self.roster is None:
            return []
        absent = sorted(self.roster.ids() - set(present))
        return [missing(StudentFolder(student, root / student), assignment)
                for student in absent for assignment in course.assignments.values()
                if not only or assignment.name in only]

    def store_roster(self, store: Gradebook) -> None:
        """The roster into the gradebook (so `grade export` knows it); an empty one when the course has none."""
        students = self.roster.students if self.roster else ()
        store.replace_roster(students, dict(self.roster.canvas_assignments) if self.roster else {})


def load_policy(course: Course, *, submitted_at: Path | None = None,
                commit_dates_in: Path | None = None) -> CoursePolicy:
    """The course's roster and schedule, and the submission times: the manifest's, and commit dates
    of the student folders under `commit_dates_in` (only when the instructor trusts them) where the
    manifest has none."""
    config = course.config
    schedule = Schedule()
    if config is not None:
        schedule = load_schedule(course.root, config.deadlines, config.late_policy, course.assignments)
    times = SubmissionTimes()
    if commit_dates_in is not None:
        times = commit_times(commit_dates_in)
    if submitted_at is not None:
        times = times.merged_under(load_submission_times(submitted_at, course.assignments))
    return CoursePolicy(schedule=schedule, times=times, roster=load_roster(course.root))


def commit_times(root: Path) -> SubmissionTimes:
    """The committer date of HEAD in each student's git folder under root, for every assignment.

    A student sets commit dates at will: this is only for a course that collects by push at the
    deadline (the collection itself then bounds the time), and only when the instructor says so.
    git runs with the repository's config neutralised where it could run a program."""
    times = {}
    for folder in student_folders(root):
        if folder.problem or not (folder.path / ".git").is_dir():
            continue
        when = _head_commit_time(folder.path)
        if when is not None:
            times[(folder.student, "*")] = when
    return SubmissionTimes(times)


def _head_commit_time(repo: Path) -> datetime | None:
    command = ["git", "--no-pager", "-c", "safe.directory=*", "-c", "core.fsmonitor=false", "-c",
               "log.showSignature=false", "-c", "core.hooksPath=/dev/null", "-C", str(repo),
               "log", "-1", "--no-show-signature", "--format=%cI", "HEAD"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0", "HOME": "/nonexistent"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, env=env, check=False)
        return datetime.fromisoformat(done.stdout.strip()) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None


@dataclass(frozen=True)
class PolicyOutcome:
    run_id: int | None  # None: nothing changed, no run recorded
    changed: int  # results whose lateness changed
    added: int  # missing results added for roster students with none


def reapply(store: Gradebook, course: Course, policy: CoursePolicy) -> PolicyOutcome:
    """`grade policy`: the policy over the stored results, no notebook run. A result whose lateness
    changes is recorded again in a new run (reused from the result that graded it); a roster student
    with no result for an assignment the class was graded on gets a missing one (an assignment with
    no result at all has not been graded yet: nobody is missing it)."""
    policy.store_roster(store)
    latest = [r for r in store.latest_results() if r.grade.assignment in course.assignments]
    updates = [(r, new) for r in latest if (new := policy.apply(r.grade)) != r.grade]
    have = {(r.grade.student, r.grade.assignment) for r in latest}
    graded = frozenset(assignment for _, assignment in have)
    added = [unopened_grade(s, course.assignments[s.assignment])
             for s in (policy.missing(course, Path("."), (), graded) if graded else ())
             if (s.student, s.assignment) not in have]
    if not updates and not added:
        return PolicyOutcome(run_id=None, changed=0, added=0)
    run_id = store.start_run({"policy": "re-applied (grade policy)"})
    try:
        for stored, grade in updates:
            store.record(run_id, grade, reused_from=stored.reused_from or stored.result_id)
        for grade in added:
            assert grade is not None  # a missing submission is settled without grading
            store.record(run_id, grade)
    except BaseException:
        store.finish_run(run_id, RunState.INTERRUPTED)
        raise
    store.finish_run(run_id, RunState.FINISHED)
    return PolicyOutcome(run_id=run_id, changed=len(updates), added=len(added))
