"""The reference solution as a Python namespace, in the trusted process.

The reference notebook is the single source of truth: its code cells are executed
here (never in a sandbox, never shown to students) and hidden tests compute their
expected values with it. Cells tagged `skip-reference` (slow demos) are skipped.
"""

from __future__ import annotations

import contextlib
import io
import types
from pathlib import Path

import nbformat

_cache: dict[tuple[Path, float], types.ModuleType] = {}


def load_reference(notebook: Path) -> types.ModuleType:
    key = (notebook.resolve(), notebook.stat().st_mtime)
    if key not in _cache:
        nb = nbformat.read(notebook, as_version=4)
        module = types.ModuleType(f"reference_{notebook.stem}")
        module.__file__ = str(notebook)
        with contextlib.redirect_stdout(io.StringIO()):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or "skip-reference" in cell.get("metadata", {}).get("tags", []):
                    continue
                source = "\n".join(
                    line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
                )
                exec(compile(source, f"{notebook.name}[cell {index}]", "exec"), module.__dict__)
        _cache[key] = module
    return _cache[key]
