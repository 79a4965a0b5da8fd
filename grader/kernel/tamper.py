"""What the kernel stage notices in a student's run that is worth a TA's look (grader.models.Signal).

Read from the cell errors and the output the kernel produced, never trusted: a line that shows
code reaching for what the sandbox hides, a patched builtin or test helper, a printed claim of
success. Recorded as signals on the Execution; none of them changes a verdict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from grader.models import CellError, Signal, SignalKind

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
_SUCCESS_CLAIM = re.compile(r"all tests passed|score:?\s*\d+\s*/\s*\d+|full marks", re.IGNORECASE)


def output_signals(cell_errors: Sequence[CellError], output: str) -> tuple[Signal, ...]:
    """Escape and patch attempts line by line (cell errors first), then the first claim of success."""
    signals = []
    for line in [f"{e.ename}: {e.evalue}" for e in cell_errors] + output.splitlines():
        if _ESCAPE_LINE.search(line):
            signals.append(Signal(SignalKind.ESCAPE, line.strip()))
        if _PATCH_LINE.search(line):
            signals.append(Signal(SignalKind.PATCHED, line.strip()))
    claim = next((line for line in output.splitlines() if _SUCCESS_CLAIM.search(line)), None)
    if claim is not None:
        signals.append(Signal(SignalKind.SUCCESS_CLAIM, claim.strip()))
    return tuple(signals)
