"""The student edition of a notebook: solutions stripped between markers, metadata stamped.

Between `### BEGIN SOLUTION` and `### END SOLUTION` (nbgrader's markers) the reference code
becomes `raise NotImplementedError(...)` at the marker's indentation, so the released
notebook runs top to bottom and every check fails with a clear reason. A marked cell
that is not code, or a marker without its partner, is an error: a solution must never
slip into a release through a typo.

A written answer is a markdown cell marked `{"grade": {"written": "<id>"}}`: the reference holds a
model answer for the TAs; the release keeps the cell (its metadata, so the grader finds the
student's answer) with `YOUR ANSWER HERE` instead. A marked cell that is not markdown, or an id
used twice, is an error for the same reason.
"""

from __future__ import annotations

import copy
import re

import nbformat

from grader.errors import GradeError

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^[ \t]*### END SOLUTION\s*$")
PLACEHOLDER = 'raise NotImplementedError("replace this line with your solution")'
WRITTEN_PLACEHOLDER = "YOUR ANSWER HERE"
WRITTEN_ID = re.compile(r"^[a-z0-9_]+$")


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


def written_id(cell: nbformat.NotebookNode) -> str | None:
    """The answer id of a written-answer cell (`metadata.grade.written`), else None."""
    grade = cell.get("metadata", {}).get("grade")
    written = grade.get("written") if isinstance(grade, dict) else None
    return written if isinstance(written, str) else None


def written_answers(notebook: nbformat.NotebookNode, assignment: str = "notebook") -> dict[str, str]:
    """answer id -> the cell's text, in notebook order: the reference's model answers.

    Raises GradeError for a marked cell that is not markdown, a malformed id, or an id used twice."""
    answers: dict[str, str] = {}
    for index, cell in enumerate(notebook.cells, 1):
        grade = cell.get("metadata", {}).get("grade")
        if isinstance(grade, dict) and "written" in grade:
            answer = written_id(cell)
            where = f"{assignment} cell {index}"
            if answer is None or not WRITTEN_ID.match(answer):
                raise GradeError(f"{where}: metadata grade.written must be an id of [a-z0-9_]+, e.g. why_scale; "
                                 f"it is {grade['written']!r}")
            if cell.cell_type != "markdown":
                raise GradeError(f"{where}: written answer {answer!r} is a {cell.cell_type} cell; make it a "
                                 "markdown cell (a model answer in code would be released)")
            if answer in answers:
                raise GradeError(f"{where}: written answer id {answer!r} is used twice; give each cell its own id")
            answers[answer] = cell.source
    return answers


def strip_solutions(notebook: nbformat.NotebookNode, assignment: str) -> nbformat.NotebookNode:
    """A copy of the reference notebook as students get it: no solutions, no model answers,
    no outputs, `metadata.grade.assignment` set so a renamed notebook is still recognised."""
    released = copy.deepcopy(notebook)
    written_answers(released, assignment)  # refuses a malformed written cell before anything is written
    for index, cell in enumerate(released.cells, 1):
        if "BEGIN SOLUTION" in cell.source and cell.cell_type != "code":
            raise GradeError(f"{assignment} cell {index}: solution markers in a {cell.cell_type} cell")
        if written_id(cell) is not None:
            cell.source = WRITTEN_PLACEHOLDER
            cell.pop("attachments", None)  # an image pasted into a model answer would travel with it
        elif cell.cell_type == "code":
            cell.source = strip_source(cell.source, f"{assignment} cell {index}")
            cell.outputs = []
            cell.execution_count = None
    released.metadata.setdefault("grade", {})["assignment"] = assignment
    return released
