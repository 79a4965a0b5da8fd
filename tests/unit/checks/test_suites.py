"""checks/suites.py: an assignment's suites against its own reference, before a class is graded.

A tiny course is written to tmp_path (a two-cell reference, one test file, a rubric); every
check runs in this process, with no kernel and no sandbox."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader.checks.suites import check_suites
from grader.course.assignments import Assignment
from grader.course.rubric import load_rubric
from grader.errors import InstructorError, RubricError
from grader.pipeline.notebook import NotebookKind

REFERENCE = "import torch\n\ndef double(x):\n    return 2 * x\n"
TRAINED = "trained = torch.tensor([1.0, 2.0])  # a slow demo in a real notebook\n"
TESTS = '''import torch


def test_double(student, reference):
    x = torch.arange(3.0)
    assert torch.equal(student.double(x), x + x), "double(x) must be x + x"
    assert torch.equal(reference.double(x), x + x)


def test_trained(student):
    assert student.trained.sum().item() == 3.0, "train the model first"
'''
RUBRIC = """assignment: tiny
notebook: tiny.ipynb
parts:
  - name: Doubling
    tests: {test_double: 1, test_trained: 1}
"""


def tiny(root: Path, *, reference: str = REFERENCE, tests: str = TESTS, rubric: str = RUBRIC) -> Assignment:
    """The course's files on disk, as load_course would find them. The test file's name is
    unique: pytest's importlib mode reuses a module already imported under the same name."""
    folder = root / "reference" / "tiny"
    (folder / "tests" / "hidden").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    trained = nbformat.v4.new_code_cell(TRAINED)
    trained.metadata["tags"] = ["skip-reference"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny"), nbformat.v4.new_code_cell(reference), trained]
    nbformat.write(nb, folder / "tiny.ipynb")
    (folder / "tests" / "hidden" / f"test_{root.name}.py").write_text(tests)
    (root / "rubrics").mkdir()
    (root / "rubrics" / "tiny.yaml").write_text(rubric)
    rubric_path = root / "rubrics" / "tiny.yaml"
    return Assignment("tiny", folder, rubric_path, load_rubric(rubric_path), NotebookKind())


def test_a_sound_assignment_passes_with_its_tagged_cells_run_as_a_students_kernel_runs_them(tmp_path: Path) -> None:
    check_suites(tiny(tmp_path))  # test_trained needs the skip-reference cell


def test_a_reference_that_fails_its_own_test_names_the_notebook_the_test_and_its_file(tmp_path: Path) -> None:
    assignment = tiny(tmp_path, reference=REFERENCE.replace("2 * x", "3 * x"))
    with pytest.raises(InstructorError) as info:
        check_suites(assignment)
    message = str(info.value)
    assert str(assignment.reference_notebook) in message and "fails its own tests" in message
    assert "test_double" in message and "double(x) must be x + x" in message
    assert str(assignment.test_files()[0]) in message
    assert "test_trained" not in message


def test_a_rubric_test_that_does_not_exist_is_named_with_the_rubric_file(tmp_path: Path) -> None:
    assignment = tiny(tmp_path, rubric=RUBRIC.replace("test_trained: 1}", "test_trained: 1, test_halve: 2}"))
    with pytest.raises(RubricError, match="test_halve") as info:
        check_suites(assignment)
    assert str(assignment.rubric_path) in str(info.value)


def test_a_test_file_that_does_not_import_is_named_with_the_error_and_line(tmp_path: Path) -> None:
    assignment = tiny(tmp_path, tests=TESTS + "\ndef test_broken(:\n    pass\n")
    with pytest.raises(InstructorError) as info:
        check_suites(assignment)
    message = str(info.value)
    assert str(assignment.test_files()[0]) in message
    assert "SyntaxError" in message and "line 13" in message


def test_a_reference_cell_that_raises_is_named_before_any_test_runs(tmp_path: Path) -> None:
    assignment = tiny(tmp_path, reference=REFERENCE + "\nundefined_helper()\n")
    with pytest.raises(InstructorError, match=r"cell 2 of 3 .*line 6: NameError: name 'undefined_helper'"):
        check_suites(assignment)


def test_a_reference_that_breaks_its_own_from_scratch_rule_is_the_rules_or_the_references_fault(
        tmp_path: Path) -> None:
    rule = ("    from_scratch:\n      - rule: scratch_double\n        within: [double]\n"
            "        forbid: [torch.mul]\n        points: 1\n")
    assignment = tiny(tmp_path, reference=REFERENCE.replace("2 * x", "torch.mul(x, 2)"), rubric=RUBRIC + rule)
    with pytest.raises(InstructorError, match="scratch_double"):
        check_suites(assignment)
