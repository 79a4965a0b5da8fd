"""grader/validate/suite.py written_cell_findings: a manual part must name a written-answer cell of the reference."""

from __future__ import annotations

from pathlib import Path

import nbformat

from grader.course.assignments import Assignment
from grader.course.rubric import Rubric, RubricPart
from grader.pipeline.notebook import NotebookKind
from grader.validate.findings import Severity
from grader.validate.suite import written_cell_findings
from tests.factories import make_manual_part


def assignment(tmp_path: Path, *answers: str) -> Assignment:
    cells = [nbformat.v4.new_markdown_cell("YOUR ANSWER HERE", metadata={"grade": {"written": "why_scale"}}),
             nbformat.v4.new_code_cell("x = 1", metadata={"grade": {"written": "in_code"}})]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "demo.ipynb")
    rubric = Rubric("demo", "Demo", "demo.ipynb", (RubricPart("A", (("test_a", 1.0),)),),
                    manual_parts=tuple(make_manual_part(a) for a in answers))
    return Assignment("demo", tmp_path, tmp_path / "demo.yaml", rubric, NotebookKind(), tmp_path)


def test_a_manual_part_whose_cell_the_reference_has_is_fine(tmp_path: Path) -> None:
    assert written_cell_findings(assignment(tmp_path, "why_scale")) == []
    assert written_cell_findings(assignment(tmp_path)) == []


def test_a_manual_part_without_its_cell_is_a_problem_naming_the_ids_there_are(tmp_path: Path) -> None:
    (finding,) = written_cell_findings(assignment(tmp_path, "why_scale", "in_code"))
    assert finding.severity is Severity.PROBLEM and "'in_code'" in finding.message
    assert "its written answers: why_scale" in finding.message  # a code cell is no written answer
