"""The student edition of a notebook: solutions stripped between markers, metadata stamped.

Between `### BEGIN SOLUTION` and `### END SOLUTION` (nbgrader's markers) the reference code
becomes `raise NotImplementedError(...)` at the marker's indentation, so the released
notebook runs top to bottom and every check fails with a clear reason. A marked cell
that is not code, or a marker without its partner, is an error: a solution must never
slip into a release through a typo.
"""

from __future__ import annotations

import copy
import re

import nbformat

from grader.errors import GradeError

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^[ \t]*### END SOLUTION\s*$")
PLACEHOLDER = 'raise NotImplementedError("replace this line with your solution")'


def strip_source(source: str, where: str = "cell") -> str:
    """Replace every marked region of one cell's source with the placeholder."""
    lines, out = source.splitlines(), []
    inside: str | None = None
    for number, line in enumerate(lines, 1):
        begin = BEGIN.match(line)
        if begin:
            if inside is not None:
                raise GradeError(f"{where}, line {number}: BEGIN SOLUTION inside another solution")
            inside = begin["indent"]
            out.append(inside + PLACEHOLDER)
        elif END.match(line):
            if inside is None:
                raise GradeError(f"{where}, line {number}: END SOLUTION without BEGIN SOLUTION")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise GradeError(f"{where}: BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out)


def strip_solutions(notebook: nbformat.NotebookNode, assignment: str) -> nbformat.NotebookNode:
    """A copy of the reference notebook as students get it: no solutions, no outputs,
    `metadata.grade.assignment` set so a renamed notebook is still recognised."""
    released = copy.deepcopy(notebook)
    for index, cell in enumerate(released.cells, 1):
        if "BEGIN SOLUTION" in cell.source and cell.cell_type != "code":
            raise GradeError(f"{assignment} cell {index}: solution markers in a {cell.cell_type} cell")
        if cell.cell_type == "code":
            cell.source = strip_source(cell.source, f"{assignment} cell {index}")
            cell.outputs = []
            cell.execution_count = None
    released.metadata.setdefault("grade", {})["assignment"] = assignment
    return released
