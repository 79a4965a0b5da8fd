"""Exceptions a user can see; each message says what to do about it."""


class GradeError(Exception):
    """An error of the grader itself (bad configuration, missing tool): exits non-zero."""


class SandboxUnavailable(GradeError):
    """Untrusted code would run unisolated; refuse unless told --no-sandbox."""


class RubricError(GradeError):
    """A rubric that does not match its tests."""


class SubmissionRejected(Exception):
    """A submission that cannot be opened safely; becomes that student's result, not a crash."""
