"""Exceptions a user can see; each message says what to do about it."""

from __future__ import annotations

from pathlib import Path


class GradeError(Exception):
    """An error of the grader itself (bad configuration, missing tool): exits non-zero."""


class SandboxUnavailable(GradeError):
    """Untrusted code would run unisolated; refuse unless told --no-sandbox."""


class InstructorError(GradeError):
    """The course itself is wrong (a rubric, a test file, a reference, homework settings).

    It stops the run: it is never recorded as a student's result. The message names the
    file and the fix."""


class RubricError(InstructorError):
    """A rubric that does not match its tests."""


class SubmissionRejected(Exception):
    """A submission that cannot be opened safely; becomes that student's result, not a crash."""


def course_file(path: Path) -> str:
    """A course file as the instructor would type it: relative to the working folder when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
