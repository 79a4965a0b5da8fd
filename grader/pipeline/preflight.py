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

from typing import Iterable

from grader.course.assignments import Course

# Assignments found sound in this process, by what they are (a test process grades a course many times).
_sound: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()


def check_course(course: Course, names: Iterable[str]) -> None:
    """Raise InstructorError at the first assignment of `names` whose own files are wrong."""
    for name in sorted(set(names)):
        assignment = course.assignments[name]
        key = (name, str(assignment.root), tuple(sorted(assignment.hashes.items())))
        if key not in _sound:
            assignment.kind.check_course(assignment)
            _sound.add(key)
