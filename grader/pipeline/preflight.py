"""The pre-flight: the course itself checked before a class is graded.

It runs in the coordinator, in the trusted process, before a run is recorded or a sandbox
starts, and only for the assignments with something to grade (a run that reuses every
result checks nothing). Each assignment's kind says what to check (AssignmentKind.check_course):
for notebooks that the tests collect, the rubric covers them exactly and the reference
passes them; for the homework that its settings score every test and its held-out set
reads. The first finding raises InstructorError (the file and the fix): the run stops with
exit 1 and nothing is recorded for any student.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

from grader.course.assignments import Course

# Assignments found sound in this process, by what they are (a test process grades a course many times).
_sound: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()


def check_course(course: Course, names: Iterable[str], *, torch_threads: int | None = None) -> None:
    """Raise InstructorError at the first assignment of `names` whose own files are wrong.

    `torch_threads`: what torch may use meanwhile (a worker's share, grader/sandbox/limits.py). With
    torch's default, one per core, the reference's training loops on a busy machine spin their idle
    threads: 03's pre-flight measured 66 CPU-s with 2 threads against 4.5 with one."""
    for name in sorted(set(names)):
        assignment = course.assignments[name]
        key = (name, str(assignment.root), tuple(sorted(assignment.hashes.items())))
        if key not in _sound:
            with _threads(torch_threads):
                assignment.kind.check_course(assignment)
            _sound.add(key)


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
