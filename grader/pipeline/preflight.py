"""The pre-flight: the course itself checked before a class is graded.

It runs in the coordinator, in the trusted process, before a run is recorded or a sandbox
starts, and only for the assignments with something to grade (a run that reuses every
result checks nothing). Each assignment's kind says what to check (AssignmentKind.check_course):
for notebooks that the tests collect, the rubric covers them exactly and the reference
passes them; for the homework that its settings score every test and its held-out set
reads. The first finding raises InstructorError (the file and the fix): the run stops with
exit 1 and nothing is recorded for any student.

An assignment that passed is remembered: in this process, and for the kinds that opt in
(AssignmentKind.check_remembered) on disk, in a stamp keyed on everything the check reads
(grader/pipeline/course_stamps.py). Only a caller that asks (`grade run`, unless
--recheck-course) skips a check a stamp vouches for; `grade validate` and `grade audit` check
for real, and every check that passes writes its stamp.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Iterator

from grader.course.assignments import Assignment, Course
from grader.pipeline import course_stamps

# Assignments found sound in this process, by what they are (a test process grades a course many times).
_sound: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()


@dataclass(frozen=True)
class CourseCheck:
    """What the pre-flight did: the assignments it checked (now, or earlier in this process), and
    those a stamp vouched for, with when they were found sound."""

    checked: tuple[str, ...] = ()
    remembered: dict[str, datetime] = field(default_factory=dict)

    def record(self) -> dict[str, str]:
        """For the run's record: each assignment, `checked` or `unchanged since <ISO time>`."""
        return {**{name: "checked" for name in self.checked},
                **{name: f"unchanged since {when.isoformat()}" for name, when in self.remembered.items()}}


def check_course(course: Course, names: Iterable[str], *, torch_threads: int | None = None,
                 stamps: bool = False) -> CourseCheck:
    """Raise InstructorError at the first assignment of `names` whose own files are wrong.

    `torch_threads`: what torch may use meanwhile (a worker's share, grader/sandbox/limits.py). With
    torch's default, one per core, the reference's training loops on a busy machine spin their idle
    threads: 03's pre-flight measured 66 CPU-s with 2 threads against 4.5 with one.
    `stamps`: skip an assignment a stamp says passed with everything it reads unchanged (`grade run`);
    without, every check runs for real (and writes its stamp when it passes)."""
    checked: list[str] = []
    remembered: dict[str, datetime] = {}
    for name in sorted(set(names)):
        assignment = course.assignments[name]
        key = (name, str(assignment.root), tuple(sorted(assignment.hashes.items())))
        if key in _sound:
            checked.append(name)
            continue
        stamp = _stamp_key(assignment) if assignment.kind.check_remembered else None
        since = course_stamps.read_stamp(stamp) if stamp is not None and stamps else None
        if since is not None:
            remembered[name] = since
            continue
        with _threads(torch_threads):
            assignment.kind.check_course(assignment)
        _sound.add(key)
        checked.append(name)
        if stamp is not None:
            course_stamps.write_stamp(stamp, assignment)
    return CourseCheck(tuple(checked), remembered)


def _stamp_key(assignment: Assignment) -> str | None:
    """The assignment's stamp key, or None when a file it covers cannot be read (the check says why)."""
    try:
        return course_stamps.stamp_key(assignment)
    except OSError as error:
        course_stamps.log.debug("no pre-flight stamp for %s: %s", assignment.name, error)
        return None


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """torch limited to `count` threads inside, as it was after (torch imported only when asked for)."""
    if not count:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
