"""The reference solution as a Python namespace, in the trusted process.

The reference notebook is the single source of truth: its code cells are executed
here (never in a sandbox, never shown to students) and hidden tests compute their
expected values with it. Cells tagged `skip-reference` (slow demos) are skipped.
"""

from __future__ import annotations

import contextlib
import io
import traceback
import types
from pathlib import Path

import nbformat

from grader.errors import InstructorError, course_file

SKIP_TAG = "skip-reference"
_cache: dict[tuple[Path, float], types.ModuleType] = {}


def load_reference(notebook: Path) -> types.ModuleType:
    """The namespace the `reference` fixture gives tests (cached: tests only read it)."""
    key = (notebook.resolve(), notebook.stat().st_mtime)
    if key not in _cache:
        _cache[key] = _execute(notebook, every_cell=False)
    return _cache[key]


def reference_as_submission(notebook: Path) -> types.ModuleType:
    """A fresh namespace from every code cell, tagged ones included, as a student's kernel runs
    the notebook: it stands in for a student when the course checks the reference against its
    own tests (the tagged cells train the models some tests grade)."""
    return _execute(notebook, every_cell=True)


def _execute(notebook: Path, *, every_cell: bool) -> types.ModuleType:
    """Run the notebook's code cells (shell and magic lines dropped) in a new module.

    A cell that raises is the instructor's to fix: InstructorError names the notebook and the cell."""
    try:
        nb = nbformat.read(notebook, as_version=4)
    except (OSError, ValueError) as error:
        raise InstructorError(f"the reference notebook {course_file(notebook)} cannot be read: {error}; "
                              "restore it from version control") from None
    module = types.ModuleType(f"reference_{notebook.stem}")
    module.__file__ = str(notebook)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if not every_cell and SKIP_TAG in cell.get("metadata", {}).get("tags", []):
                continue
            source = "\n".join(
                line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
            )
            where = f"{notebook.name}[cell {index}]"
            try:
                exec(compile(source, where, "exec"), module.__dict__)
            except Exception as error:  # noqa: BLE001 - any error in the instructor's notebook is theirs to fix
                lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == where]
                if isinstance(error, SyntaxError) and error.filename == where and error.lineno:
                    lines.append(error.lineno)
                at = f", line {lines[-1]}" if lines else ""
                first = cell.source.strip().splitlines()[0][:80] if cell.source.strip() else ""
                raise InstructorError(
                    f"the reference notebook {course_file(notebook)} fails in cell {index + 1} of {len(nb.cells)} "
                    f"(starting {first!r}){at}: {type(error).__name__}: {str(error)[:500]}; fix that cell "
                    "(grade runs the reference's code cells in the grader to compute expected values)"
                ) from error
    return module
