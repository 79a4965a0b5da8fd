"""A hidden test's check of the grader's own computations (the reference against PyTorch, or
against the test's helpers), made before it compares a student's answer.

Its failure is the course's mistake, never the student's: a hidden test raises SelfCheckFailed,
and the runner (grader/checks/runner.py) stops the run with an InstructorError naming the
test file and the check instead of recording a failed test. Only computations the student
cannot reach may be self-checked: anything read through the bridge is the student's.
"""

from __future__ import annotations


class SelfCheckFailed(Exception):
    """Two of the grader's own computations disagree; `what` names the check."""

    def __init__(self, what: str) -> None:
        super().__init__(f"grader self-check failed ({what}); this is not your mistake: tell the course staff")
        self.what = what


def self_check(ok: bool, what: str) -> None:
    """Raise SelfCheckFailed unless `ok`: self_check(is_close(ours, F.conv2d(x, w)), "reference conv2d vs F.conv2d")."""
    if not ok:
        raise SelfCheckFailed(what)
