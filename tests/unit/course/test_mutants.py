"""grader/course/mutants.py: reading mutants.yaml and applying its edits to the reference."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.course.mutants import Edit, apply_edit, load_mutants
from grader.errors import InstructorError

SPEC = """
mutants:
  - name: off_by_one
    why: a classic
    find: "range(n)"
    replace: "range(n - 1)"
    fails: [test_sum]
alternatives:
  - name: builtin_sum
    find: "total = 0"
    replace: "total = sum([])"
"""


def test_entries_are_read_in_order(tmp_path: Path) -> None:
    path = tmp_path / "mutants.yaml"
    path.write_text(SPEC)
    spec = load_mutants(path)
    assert spec.mutants == (Edit("off_by_one", "range(n)", "range(n - 1)", "a classic", ("test_sum",)),)
    assert [e.name for e in spec.entries] == ["off_by_one", "builtin_sum"]


def test_an_empty_file_has_no_entries(tmp_path: Path) -> None:
    path = tmp_path / "mutants.yaml"
    path.write_text("# only comments\nmutants: []\n")
    assert load_mutants(path).entries == ()


@pytest.mark.parametrize(("old", "new", "match"), [
    ("    fails: [test_sum]\n", "", "mutant off_by_one needs `fails:`"),
    ('    find: "total = 0"', '    find: "total = 0"\n    fails: [test_sum]', "alternative builtin_sum has `fails:`"),
    ("name: builtin_sum", "name: off_by_one", "the name off_by_one is used twice"),
    ('    replace: "range(n - 1)"\n', "", "needs `name:`, `find:` and `replace:`"),
    ("mutants:\n", "mutants: 3\nother:\n", "`mutants:` must be a list"),
])
def test_a_broken_entry_is_an_instructor_error_naming_the_file(tmp_path: Path, old: str, new: str,
                                                                match: str) -> None:
    path = tmp_path / "mutants.yaml"
    path.write_text(SPEC.replace(old, new))
    with pytest.raises(InstructorError, match=match) as info:
        load_mutants(path)
    assert "mutants.yaml" in str(info.value)


def test_an_edit_applies_to_the_one_code_cell_holding_its_snippet() -> None:
    nb = new_notebook(cells=[new_markdown_cell("range(n)"), new_code_cell("for i in range(n):\n    total = 0")])
    edited = apply_edit(nb, Edit("m", "range(n)", "range(n - 1)", fails=("t",)), "mutants.yaml")
    assert edited.cells[1].source == "for i in range(n - 1):\n    total = 0"
    assert nb.cells[1].source == "for i in range(n):\n    total = 0"  # the reference is left as it was
    assert isinstance(edited, nbformat.NotebookNode)


@pytest.mark.parametrize(("find", "match"), [("nowhere", "does not occur in"), ("x", "occurs 2 times among")])
def test_a_snippet_that_is_not_unique_is_an_instructor_error(find: str, match: str) -> None:
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("y = x")])
    with pytest.raises(InstructorError, match=match):
        apply_edit(nb, Edit("m", find, "z"), "mutants.yaml")


SCOPES = new_notebook(cells=[
    new_markdown_cell("def in_markdown(): return 1"),
    new_code_cell("%matplotlib inline\nimport torch\nLIMIT = 3"),
    new_code_cell("def attention(q, k):\n    scores = q @ k\n    return scores.softmax(-1)\n\n\n"
                  "class Head:\n    def forward(self, x):\n        return x * 2\n\nprint(attention)"),
])


@pytest.mark.parametrize(("find", "scope"), [
    ("scores = q @ k", "attention"),
    ("return x * 2", "Head"),  # a method: its top-level class, as grade audit records a mutant's scope
    ("LIMIT = 3", ""),  # at cell level
    ("print(attention)", ""),
    ("return", ""),  # not unique: no scope
    ("def in_markdown", ""),  # not in a code cell
])
def test_the_scope_of_an_entry_is_the_top_level_definition_its_find_begins_in(find: str, scope: str) -> None:
    from grader.course.mutants import edit_scope

    assert edit_scope(SCOPES, Edit("m", find, "x", fails=("t",))) == scope


def test_defined_names_are_the_top_level_functions_and_classes_of_code_cells() -> None:
    from grader.course.mutants import defined_names

    assert defined_names(SCOPES) == {"attention", "Head"}
