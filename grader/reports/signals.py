"""Signs that a submission tried to tamper with grading, as the stages that saw them recorded them.

Student code never reaches the verdicts (DESIGN.md, trust boundary), so these change no grade.
They point a TA at submissions worth a look: a kernel that was killed or exited, an attempt to
reach outside the sandbox (files of the course, the network, the host), a patched builtin or a
fake result object, printed claims of success the tests contradict. The kernel stage records
its signals on the Execution (grader.kernel.tamper), the checks theirs on each TestResult
(grader.checks.tensors); this module only words them. Results stored before the gradebook kept
signals (revision 0003) have none.
"""

from __future__ import annotations

from collections.abc import Iterator

from grader.models import Grade, SignalKind
from grader.reports.contexts import SignalRow
from grader.reports.text import shorten

KILLED = "kernel killed"
ESCAPE = "attempt to leave the sandbox"
PATCHED = "patched builtin or fake result"
FAKE_OUTPUT = "printed a success the tests contradict"
_WORDS = {SignalKind.KILLED: KILLED, SignalKind.ESCAPE: ESCAPE, SignalKind.PATCHED: PATCHED}


def tamper_signals(grade: Grade) -> tuple[SignalRow, ...]:
    """Every signal of one grade, each with the line that shows it (cleaned, shortened)."""
    seen: set[tuple[str, str]] = set()
    rows = []
    for kind, evidence in _signals(grade):
        key = (kind, evidence)
        if key not in seen:
            seen.add(key)
            rows.append(SignalRow(kind=kind, evidence=shorten(evidence, 300)))
    return tuple(rows[:12])


def _signals(grade: Grade) -> Iterator[tuple[str, str]]:
    recorded = grade.execution.signals if grade.execution is not None else ()
    for signal in recorded:
        if signal.kind in _WORDS:
            yield _WORDS[signal.kind], signal.detail
    fakes: dict[str, list[str]] = {}  # class name -> tests that got an instance of it
    for test in grade.tests:
        for signal in test.signals:
            if signal.kind is SignalKind.FAKE_RESULT:
                fakes.setdefault(signal.detail, []).append(test.test_id)
    for name, tests in sorted(fakes.items()):
        yield PATCHED, (f"{len(tests)} test(s) got a {name} object instead of a tensor, e.g. {tests[0]} "
                        "(a class posing as a result, such as one whose __eq__ is always true)")
    if grade.score < grade.max_score:  # a claim of success is a signal only when the tests disagree
        claim = next((s.detail for s in recorded if s.kind is SignalKind.SUCCESS_CLAIM), None)
        if claim is not None:
            yield FAKE_OUTPUT, f"{claim} (graded {grade.score:g} / {grade.max_score:g})"
