"""grader/course/scaffold.py: `grade new` writes a working assignment and never overwrites one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grader.course.config import load_course_config
from grader.course.scaffold import ScaffoldKind, new_assignment
from grader.errors import GradeError
from grader.students.strip import strip_source

COURSE_YAML = """\
# The course (a comment the instructor wrote).
title: "Deep Learning"
assignments:
  - 01_intro   # the first week
  # - 02_later (not yet)
  - homework
# Limits.
defaults:
  timeout_s: 300
"""


def test_a_notebook_assignment_has_every_file_and_a_rubric_that_names_its_tests(tmp_path: Path) -> None:
    scaffold = new_assignment(tmp_path, "08_layer_norm")
    written = {path.relative_to(tmp_path).as_posix() for path in scaffold.written}
    assert written == {"reference/08_layer_norm/08_layer_norm.ipynb", "rubrics/08_layer_norm.yaml",
                       "reference/08_layer_norm/tests/public/test_08_layer_norm_public.py",
                       "reference/08_layer_norm/tests/hidden/test_08_layer_norm_hidden.py",
                       "reference/08_layer_norm/mutants.yaml", "course.yaml"}
    rubric = yaml.safe_load((tmp_path / "rubrics/08_layer_norm.yaml").read_text())
    assert (rubric["assignment"], rubric["title"], rubric["notebook"]) == (
        "08_layer_norm", "Layer norm", "08_layer_norm.ipynb")
    mutants = yaml.safe_load((tmp_path / "reference/08_layer_norm/mutants.yaml").read_text())
    assert (mutants["mutants"], mutants["alternatives"]) == ([], [])
    assert load_course_config(tmp_path).assignments == ("08_layer_norm",)


def test_the_reference_has_a_solution_the_release_strips(tmp_path: Path) -> None:
    import nbformat

    new_assignment(tmp_path, "a1")
    nb = nbformat.read(tmp_path / "reference/a1/a1.ipynb", as_version=4)
    (solution,) = [cell.source for cell in nb.cells if "### BEGIN SOLUTION" in cell.source]
    assert "raise NotImplementedError" in strip_source(solution) and "exps" not in strip_source(solution)
    assert "$" not in "".join(cell.source for cell in nb.cells)  # every placeholder filled


def test_a_model_assignment_has_a_model_rubric_and_tiny_csvs(tmp_path: Path) -> None:
    new_assignment(tmp_path, "hw2", ScaffoldKind.MODEL)
    rubric = yaml.safe_load((tmp_path / "rubrics/hw2.yaml").read_text())
    assert rubric["kind"] == "model"
    assert rubric["settings"]["heldout"] == "data/hw2/heldout.csv"
    assert (tmp_path / "data/hw2/heldout.csv").read_text().startswith("text,label\n")
    assert (tmp_path / "reference/hw2/hw2.ipynb").is_file()


def test_the_assignment_is_appended_to_course_yaml_with_its_comments_kept(tmp_path: Path) -> None:
    (tmp_path / "course.yaml").write_text(COURSE_YAML)
    scaffold = new_assignment(tmp_path, "03_next")
    assert (tmp_path / "course.yaml").read_text() == COURSE_YAML.replace("  - homework\n", "  - homework\n  - 03_next\n")
    assert scaffold.course_yaml == f"added 03_next to `assignments:` in {tmp_path / 'course.yaml'}"


def test_a_flow_list_in_course_yaml_is_appended_to(tmp_path: Path) -> None:
    (tmp_path / "course.yaml").write_text('title: "T"\nassignments: [a, b]  # in order\n')
    new_assignment(tmp_path, "c")
    assert (tmp_path / "course.yaml").read_text() == 'title: "T"\nassignments: [a, b, c]  # in order\n'


def test_every_rubric_in_course_yaml_is_left_alone(tmp_path: Path) -> None:
    text = 'title: "T"\nassignments: "every rubric"\n'
    (tmp_path / "course.yaml").write_text(text)
    scaffold = new_assignment(tmp_path, "c")
    assert (tmp_path / "course.yaml").read_text() == text
    assert "grades every rubric" in scaffold.course_yaml


def test_a_course_without_course_yaml_gets_one_listing_its_rubrics_too(tmp_path: Path) -> None:
    new_assignment(tmp_path, "a1")
    (tmp_path / "course.yaml").unlink()
    new_assignment(tmp_path, "a2")
    assert load_course_config(tmp_path).assignments == ("a1", "a2")


@pytest.mark.parametrize("name", ["a-b", "../x", "", "_hidden", "a b", "x" * 65])
def test_names_that_are_not_identifier_like_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(GradeError, match="is not a valid assignment name"):
        new_assignment(tmp_path, name)
    assert not (tmp_path / "rubrics").exists()


def test_an_existing_assignment_is_never_overwritten(tmp_path: Path) -> None:
    new_assignment(tmp_path, "a1")
    rubric = tmp_path / "rubrics/a1.yaml"
    rubric.write_text(rubric.read_text() + "# mine\n")
    with pytest.raises(GradeError, match="assignment a1 already exists"):
        new_assignment(tmp_path, "a1", ScaffoldKind.MODEL)
    assert rubric.read_text().endswith("# mine\n")
    renamed = tmp_path / "rubrics/renamed.yaml"
    rubric.rename(renamed)  # the rubric file's name is not the assignment's: its `assignment:` is
    with pytest.raises(GradeError, match="already exists"):
        new_assignment(tmp_path, "a1")


def test_the_notebook_has_a_written_part_the_rubric_grades_and_the_release_blanks(tmp_path: Path) -> None:
    """The scaffold shows a written question too: its answer cell is found by the rubric's `answer`,
    the rubric's max counts its items, and the release keeps the cell without the model answer."""
    import nbformat

    from grader.course.rubric import load_rubric
    from grader.students.strip import strip_solutions
    from grader.written_answers import notebook_answers

    new_assignment(tmp_path, "a1")
    rubric = load_rubric(tmp_path / "rubrics/a1.yaml")
    nb = nbformat.read(tmp_path / "reference/a1/a1.ipynb", as_version=4)
    (answer,) = notebook_answers(nb, rubric.manual_parts)
    assert answer.part.answer == "why_shift" and "overflow" in (answer.answer or "")
    assert rubric.max_score == rubric.auto_max_score + 2
    released = strip_solutions(nb, "a1")
    (blank,) = notebook_answers(released, rubric.manual_parts)
    assert blank.answer is None or "overflow" not in blank.answer
