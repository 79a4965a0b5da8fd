"""pipeline/template_imports.py: the kernel template imports torch._dynamo only for a run that trains."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.kinds import load_course
from grader.options import GradingOptions
from grader.pipeline.template_imports import DYNAMO, kernel_imports, trains
from tests.conftest import REPO


def test_the_course_assignments_that_train_are_found() -> None:
    course = load_course(REPO)
    training = {name for name, assignment in course.assignments.items() if trains(assignment)}
    # 01-03 and the homework train with torch.optim; 04's hidden tests use torch.func.vjp (on the trusted
    # side, but a scan cannot tell: counted as training); 05-07 never train.
    assert training == {"01_neural_networks", "02_cnns_basics", "03_rnns_sequences", "04_transformer_architecture",
                        "homework"}
    assert kernel_imports([course.assignments["05_attention_mechanism"]]) == ()
    assert kernel_imports(course.assignments.values()) == (DYNAMO,)


def course_copy(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    shutil.copytree(REPO / "reference", root / "reference", ignore=shutil.ignore_patterns("data", "__pycache__"))
    shutil.copytree(REPO / "rubrics", root / "rubrics")
    shutil.copy(REPO / "course.yaml", root / "course.yaml")
    return root


@pytest.mark.parametrize("line", ["opt = torch.optim.SGD(model.parameters(), lr=0.1)",
                                  "from torch import optim", "grads = torch.func.grad(loss)(params)",
                                  "model = torch.compile(model)"])
def test_a_hidden_test_that_trains_makes_the_run_import_dynamo(tmp_path: Path, line: str) -> None:
    root = course_copy(tmp_path)
    hidden = root / "reference" / "05_attention_mechanism" / "tests" / "hidden" / "test_05_hidden.py"
    assert kernel_imports([load_course(root).assignments["05_attention_mechanism"]]) == ()
    hidden.write_text(hidden.read_text() + f"\n\ndef _trains(torch, model, loss, params):\n    {line}\n")
    assert kernel_imports([load_course(root).assignments["05_attention_mechanism"]]) == (DYNAMO,)


def test_a_reference_that_cannot_be_read_counts_as_training(tmp_path: Path) -> None:
    root = course_copy(tmp_path)
    assignment = load_course(root).assignments["05_attention_mechanism"]
    assignment.reference_notebook.unlink()
    assert trains(assignment)


def test_the_run_decides_only_what_the_caller_left_open() -> None:
    assert GradingOptions().kernel_imports_for(()).kernel_imports == ()
    assert GradingOptions(kernel_imports=(DYNAMO,)).kernel_imports_for(()).kernel_imports == (DYNAMO,)
