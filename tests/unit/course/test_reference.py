"""course/reference.py: the reference's namespace for tests, and the reference standing in for a student."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader.course.reference import load_reference, reference_as_submission
from grader.errors import InstructorError


def notebook(path: Path, *cells: str, tagged: tuple[int, ...] = ()) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Reference")]
    for index, source in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source)
        if index in tagged:
            cell.metadata["tags"] = ["skip-reference"]
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def test_tests_get_the_untagged_cells_and_a_stand_in_gets_every_cell_in_a_fresh_namespace(tmp_path: Path) -> None:
    path = notebook(tmp_path / "ref.ipynb", "%matplotlib inline\nseen = []\nx = 1", "y = 2\nseen.append(y)",
                    tagged=(1,))
    reference = load_reference(path)
    assert reference.x == 1 and not hasattr(reference, "y")
    first, second = reference_as_submission(path), reference_as_submission(path)
    assert first.y == 2 and first.seen == [2]
    assert first.seen is not second.seen and first is not reference  # tests may change it; the fixture stays


def test_a_cell_that_raises_is_named_with_the_notebook_the_cell_and_its_line(tmp_path: Path) -> None:
    path = notebook(tmp_path / "ref.ipynb", "import math", "def f():\n    return 1\n\nf() + undefined_name")
    with pytest.raises(InstructorError) as info:
        load_reference(path)
    assert str(info.value).startswith(f"the reference notebook {path} fails in cell 3 of 3 (starting 'def f():'), "
                                      "line 4: NameError: name 'undefined_name' is not defined; fix that cell")


def test_a_syntax_error_and_an_unreadable_notebook_are_the_instructors_to_fix(tmp_path: Path) -> None:
    path = notebook(tmp_path / "ref.ipynb", "x = 1", "def f(:\n    pass", tagged=(1,))
    load_reference(path)  # the broken cell is tagged: the tests' namespace does not run it
    with pytest.raises(InstructorError, match=r"cell 3 of 3 .*line 1: SyntaxError"):
        reference_as_submission(path)
    (tmp_path / "torn.ipynb").write_text('{"cells": [')
    with pytest.raises(InstructorError, match=r"torn.ipynb cannot be read"):
        load_reference(tmp_path / "torn.ipynb")
