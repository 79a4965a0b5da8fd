"""Signs that a submission tried to tamper with grading, read from what the pipeline stored.

Student code never reaches the verdicts (DESIGN.md, trust boundary), so these change no grade.
They point a TA at submissions worth a look: a kernel that was killed or exited, an attempt to
reach outside the sandbox (files of the course, the network, the host), a patched builtin or a
fake result object, printed claims of success the tests contradict. Other stages may add their
own signals as strings in ``Grade.extra["tamper"]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from grader.models import Grade, Status
from grader.reports.contexts import SignalRow
from grader.reports.text import shorten

KILLED = "kernel killed"
ESCAPE = "attempt to leave the sandbox"
PATCHED = "patched builtin or fake result"
FAKE_OUTPUT = "printed a success the tests contradict"

# Lines of output or cell errors that show code reaching for what the sandbox hides.
_ESCAPE_LINE = re.compile(
    r"Permission denied|Read-only file system|Operation not permitted|Network is unreachable|"
    r"Temporary failure in name resolution|Name or service not known|Connection refused|"
    r"/etc/(?:passwd|shadow)|tests/hidden|\brubrics?/|reference/|\.\./\.\./|/proc/\d+|docker\.sock",
    re.IGNORECASE,
)
_PATCH_LINE = re.compile(
    r"__builtins__|builtins\.\w+\s*=|monkeypatch|setattr\((?:torch|builtins|np|numpy)|"
    r"torch\.(?:allclose|equal|testing\.\w+)\s*=",
    re.IGNORECASE,
)
# grader.checks.tensors says "returned an X object, expected a tensor" for a non-tensor answer.
_FAKE_OBJECT = re.compile(r"returned an? ([A-Za-z_]\w*) object, expected a tensor")
_HARMLESS_TYPES = frozenset({"NoneType", "tuple", "list", "int", "float", "str", "dict", "bool", "ndarray"})
_SUCCESS_CLAIM = re.compile(r"all tests passed|score:?\s*\d+\s*/\s*\d+|full marks", re.IGNORECASE)
_KERNEL_GONE = re.compile(r"kernel (?:died|exited|was killed)|SIGKILL|SIGSEGV", re.IGNORECASE)


def tamper_signals(grade: Grade) -> tuple[SignalRow, ...]:
    """Every signal found in one grade, each with the line that shows it (cleaned, shortened)."""
    seen: set[tuple[str, str]] = set()
    rows = []
    for kind, evidence in _signals(grade):
        key = (kind, evidence)
        if key not in seen:
            seen.add(key)
            rows.append(SignalRow(kind=kind, evidence=shorten(evidence, 300)))
    return tuple(rows[:12])


def _signals(grade: Grade) -> Iterator[tuple[str, str]]:
    execution = grade.execution
    for note in grade.extra.get("tamper", ()) if isinstance(grade.extra.get("tamper"), list) else ():
        yield PATCHED if "patch" in str(note).lower() else ESCAPE, str(note)
    if execution is None:
        return
    if execution.status is Status.ERROR and _KERNEL_GONE.search(execution.message):
        yield KILLED, execution.message
    lines = [f"{e.ename}: {e.evalue}" for e in execution.cell_errors] + execution.output_excerpt.splitlines()
    for line in lines:
        if _ESCAPE_LINE.search(line):
            yield ESCAPE, line.strip()
        if _PATCH_LINE.search(line):
            yield PATCHED, line.strip()
    fakes: dict[str, list[str]] = {}  # class name -> tests that got an instance of it
    for test in grade.tests:
        match = _FAKE_OBJECT.search(test.message)
        if match and match.group(1) not in _HARMLESS_TYPES:
            fakes.setdefault(match.group(1), []).append(test.test_id)
    for name, tests in sorted(fakes.items()):
        yield PATCHED, (f"{len(tests)} test(s) got a {name} object instead of a tensor, e.g. {tests[0]} "
                        "(a class posing as a result, such as one whose __eq__ is always true)")
    if grade.score < grade.max_score:
        for line in execution.output_excerpt.splitlines():
            if _SUCCESS_CLAIM.search(line):
                yield FAKE_OUTPUT, f"{line.strip()} (graded {grade.score:g} / {grade.max_score:g})"
                break
