"""grader/kinds.py: a course read from a folder of rubrics and references, and the registry of kinds."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader.kinds import KINDS, kind_named, load_course
from grader.errors import GradeError, RubricError


def rubric_text(assignment: str, **fields: str) -> str:
    extra = "".join(f"{key}: {value}\n" for key, value in fields.items())
    return f"assignment: {assignment}\n{extra}parts:\n  - name: Part\n    tests: {{test_{assignment}: 1}}\n"


def write_assignment(root: Path, assignment: str, *, notebook: str | None = None, rubric_name: str | None = None,
                     **fields: str) -> Path:
    """rubrics/<assignment>.yaml, reference/<assignment>/<notebook> and one hidden test file."""
    notebook = notebook or f"{assignment}.ipynb"
    rubric = root / "rubrics" / (rubric_name or f"{assignment}.yaml")
    rubric.parent.mkdir(parents=True, exist_ok=True)
    if notebook != f"{assignment}.ipynb":
        fields["notebook"] = notebook
    rubric.write_text(rubric_text(assignment, **fields))
    folder = root / "reference" / assignment
    (folder / "tests" / "hidden").mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), folder / notebook)
    (folder / "tests" / "hidden" / "test_hidden.py").write_text(f"def test_{assignment}(student):\n    pass\n")
    return rubric


def test_a_course_is_every_rubric_with_its_reference_folder(tmp_path: Path) -> None:
    write_assignment(tmp_path, "01_mlp")
    write_assignment(tmp_path, "05_attention", notebook="attention.ipynb", title="Attention")
    (tmp_path / "rubrics" / "notes.txt").write_text("not a rubric")

    course = load_course(tmp_path)

    assert course.root == tmp_path.resolve()
    assert sorted(course.assignments) == ["01_mlp", "05_attention"]
    attention = course.assignments["05_attention"]
    assert attention.root == tmp_path.resolve() / "reference" / "05_attention"
    assert attention.reference_notebook.name == "attention.ipynb" and attention.reference_notebook.is_file()
    assert attention.rubric.title == "Attention" and attention.kind is KINDS["notebook"]
    assert attention.course_root == tmp_path.resolve()
    assert [p.name for p in attention.test_files()] == ["test_hidden.py"]
    assert course.by_notebook() == {"01_mlp.ipynb": course.assignments["01_mlp"], "attention.ipynb": attention}


def test_each_kind_is_found_by_its_rubric_name() -> None:
    assert sorted(KINDS) == ["model", "notebook"]
    assert kind_named("model", Path("rubrics/homework.yaml")).wants_gpu
    assert not kind_named("notebook", Path("rubrics/x.yaml")).wants_gpu


def test_an_unknown_kind_is_rejected_with_the_rubrics_path(tmp_path: Path) -> None:
    rubric = write_assignment(tmp_path, "01_mlp", kind="notbook")
    with pytest.raises(RubricError) as info:
        load_course(tmp_path)
    assert str(info.value) == f"rubric {rubric}: kind must be one of notebook, model, not 'notbook'"


def test_a_rubric_whose_reference_notebook_is_missing_names_both(tmp_path: Path) -> None:
    write_assignment(tmp_path, "01_mlp")
    (tmp_path / "reference" / "01_mlp" / "01_mlp.ipynb").unlink()
    with pytest.raises(GradeError, match=r"rubric 01_mlp.yaml names 01_mlp.ipynb, not found in .*reference/01_mlp"):
        load_course(tmp_path)


def test_two_rubrics_for_one_assignment_are_an_error_naming_both(tmp_path: Path) -> None:
    first = write_assignment(tmp_path, "05_attention")
    second = write_assignment(tmp_path, "05_attention", rubric_name="06_copy_of_05.yaml")
    with pytest.raises(RubricError) as info:
        load_course(tmp_path)
    assert str(second) in str(info.value) and str(first) in str(info.value)


def test_a_broken_rubric_stops_the_load_with_its_path(tmp_path: Path) -> None:
    write_assignment(tmp_path, "01_mlp")
    broken = tmp_path / "rubrics" / "02_cnn.yaml"
    broken.write_text("assignment: 02_cnn\n")
    with pytest.raises(RubricError, match=f"rubric {broken} is missing a field: 'parts'"):
        load_course(tmp_path)


def test_a_folder_without_rubrics_says_where_to_run(tmp_path: Path) -> None:
    with pytest.raises(GradeError, match="no rubrics/ folder in .*: run grade from the course repository"):
        load_course(tmp_path)
    (tmp_path / "rubrics").mkdir()
    with pytest.raises(GradeError, match="no rubrics in"):
        load_course(tmp_path)
