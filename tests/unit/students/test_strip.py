"""grader/students/strip.py: the student edition of a reference notebook, solutions stripped."""

from __future__ import annotations

import nbformat
import pytest

from grader.errors import GradeError
from grader.students.strip import PLACEHOLDER, WRITTEN_PLACEHOLDER, strip_solutions, strip_source, written_answers

SOLUTION_CELL = """\
import torch

def attention(q, k, v, mask=None):
    \"\"\"softmax(QK^T / sqrt(d_k)) V\"\"\"
    ### BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    return scores.softmax(-1) @ v
    ### END SOLUTION

class Head(torch.nn.Module):
    def forward(self, x):
        ### BEGIN SOLUTION
        return attention(x, x, x)
        ### END SOLUTION"""


def test_each_marked_region_becomes_the_placeholder_at_the_markers_indentation() -> None:
    stripped = strip_source(SOLUTION_CELL)
    assert stripped == (
        "import torch\n\n"
        "def attention(q, k, v, mask=None):\n"
        '    """softmax(QK^T / sqrt(d_k)) V"""\n'
        f"    {PLACEHOLDER}\n\n"
        "class Head(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        f"        {PLACEHOLDER}"
    )
    compile(stripped, "released", "exec")  # the student edition still runs top to bottom
    assert "scores" not in stripped and "BEGIN" not in stripped


def test_tab_indentation_is_kept() -> None:
    stripped = strip_source("def f(x):\n\t### BEGIN SOLUTION\n\treturn x\n\t### END SOLUTION")
    assert stripped == f"def f(x):\n\t{PLACEHOLDER}"
    compile(stripped, "released", "exec")


def test_a_cell_without_markers_is_unchanged() -> None:
    source = "x = 1\n# BEGIN SOLUTION is only a marker on a line of its own\ny = 2"
    assert strip_source(source) == source


def test_a_marker_with_trailing_spaces_still_counts() -> None:
    assert strip_source("### BEGIN SOLUTION   \nsecret = 1\n  ### END SOLUTION\t") == PLACEHOLDER


@pytest.mark.parametrize(("source", "match"), [
    ("### BEGIN SOLUTION\nsecret = 1", r"^05 cell 3: BEGIN SOLUTION without END SOLUTION$"),
    ("secret = 1\n### END SOLUTION", r"^05 cell 3, line 2: END SOLUTION without BEGIN SOLUTION$"),
    ("### BEGIN SOLUTION\na = 1\n    ### BEGIN SOLUTION\nb = 2\n### END SOLUTION",
     r"^05 cell 3, line 3: BEGIN SOLUTION inside another solution$"),
])
def test_unbalanced_markers_are_an_error_never_a_leak(source: str, match: str) -> None:
    with pytest.raises(GradeError, match=match):
        strip_source(source, "05 cell 3")


def reference() -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_markdown_cell("# Attention\nImplement `attention` below."),
        nbformat.v4.new_code_cell(SOLUTION_CELL, execution_count=4,
                                  outputs=[nbformat.v4.new_output("stream", text="solution printed this")]),
        nbformat.v4.new_code_cell("attention(torch.ones(1, 2), torch.ones(1, 2), torch.ones(1, 2))",
                                  execution_count=5),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    return notebook


def test_the_release_strips_code_clears_outputs_and_names_the_assignment() -> None:
    original = reference()
    released = strip_solutions(original, "05_attention_mechanism")

    assert released.cells[0] == original.cells[0]  # markdown untouched
    assert PLACEHOLDER in released.cells[1].source and "masked_fill" not in released.cells[1].source
    assert all(c.outputs == [] and c.execution_count is None for c in released.cells if c.cell_type == "code")
    assert released.metadata.grade == {"assignment": "05_attention_mechanism"}
    assert released.metadata.kernelspec.name == "python3"
    nbformat.validate(released)
    # the reference is not modified in place
    assert "masked_fill" in original.cells[1].source and original.cells[1].outputs
    assert "grade" not in original.metadata


@pytest.mark.parametrize("cell_type", ["markdown", "raw"])
def test_markers_in_a_cell_that_is_not_code_are_an_error(cell_type: str) -> None:
    notebook = reference()
    make = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_raw_cell
    notebook.cells.insert(1, make("Answer:\n### BEGIN SOLUTION\nthe softmax is shift invariant\n### END SOLUTION"))
    with pytest.raises(GradeError, match=rf"^05_attention_mechanism cell 2: solution markers in a {cell_type} cell$"):
        strip_solutions(notebook, "05_attention_mechanism")


def test_an_unbalanced_marker_names_the_cell() -> None:
    notebook = reference()
    notebook.cells[2].source = "### BEGIN SOLUTION\nanswer = 42"
    with pytest.raises(GradeError, match=r"^05_attention_mechanism cell 3: BEGIN SOLUTION without END SOLUTION$"):
        strip_solutions(notebook, "05_attention_mechanism")


MODEL_ANSWER = "Dot products of d_k-dim vectors have variance d_k, so the softmax saturates."


def with_written(cell_type: str = "markdown", answer: object = "why_scale") -> nbformat.NotebookNode:
    notebook = reference()
    make = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell,
            "raw": nbformat.v4.new_raw_cell}[cell_type]
    written = make(MODEL_ANSWER, metadata={"grade": {"written": answer}})
    notebook.cells[1:1] = [nbformat.v4.new_markdown_cell("### Written answer (why_scale)\n\nWhy scale?"), written]
    return notebook


def test_a_written_answer_goes_out_as_the_placeholder_with_its_metadata_and_question() -> None:
    original = with_written()
    original.cells[2]["attachments"] = {"proof.png": {"image/png": "aGVsbG8="}}
    released = strip_solutions(original, "05_attention_mechanism")

    assert released.cells[1] == original.cells[1]  # the question stays as written
    assert released.cells[2].source == WRITTEN_PLACEHOLDER == "YOUR ANSWER HERE"
    assert released.cells[2].cell_type == "markdown"
    assert released.cells[2].metadata == {"grade": {"written": "why_scale"}}  # the grader finds it by this
    assert "attachments" not in released.cells[2]
    assert "variance" not in nbformat.writes(released)
    nbformat.validate(released)
    assert original.cells[2].source == MODEL_ANSWER  # the reference is not modified in place


def test_written_answers_lists_the_reference_model_answers_in_order() -> None:
    notebook = with_written()
    notebook.cells.append(nbformat.v4.new_markdown_cell("Masking first.", metadata={"grade": {"written": "mask_first"}}))
    assert written_answers(notebook) == {"why_scale": MODEL_ANSWER, "mask_first": "Masking first."}
    assert written_answers(reference()) == {}


@pytest.mark.parametrize("cell_type", ["code", "raw"])
def test_a_written_answer_that_is_not_markdown_is_an_error_never_a_leak(cell_type: str) -> None:
    with pytest.raises(GradeError, match=rf"^05 cell 3: written answer 'why_scale' is a {cell_type} cell; "
                                         "make it a markdown cell"):
        strip_solutions(with_written(cell_type), "05")


@pytest.mark.parametrize("answer", ["Why Scale", "", 3, None, "../x"])
def test_a_malformed_written_id_is_an_error(answer: object) -> None:
    with pytest.raises(GradeError, match=r"^05 cell 3: metadata grade.written must be an id of \[a-z0-9_\]\+"):
        strip_solutions(with_written(answer=answer), "05")


def test_a_written_id_used_twice_is_an_error() -> None:
    notebook = with_written()
    notebook.cells.append(nbformat.v4.new_markdown_cell("again", metadata={"grade": {"written": "why_scale"}}))
    with pytest.raises(GradeError, match=r"^05 cell 6: written answer id 'why_scale' is used twice"):
        strip_solutions(notebook, "05")
