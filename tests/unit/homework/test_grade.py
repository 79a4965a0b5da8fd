"""homework/grade.py's settings check: the homework rubric's mistakes named before a class is graded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grader.course.assignments import Assignment
from grader.course.rubric import load_rubric
from grader.errors import InstructorError, RubricError
from grader.homework.grade import check_settings
from grader.homework.kind import ModelKind
from tests.conftest import REPO


def homework(root: Path, **settings: object) -> Assignment:
    """The repo's homework rubric with `settings` changed (None removes one), and a 2-review held-out CSV."""
    (root / "rubrics").mkdir(parents=True)
    (root / "reference" / "homework").mkdir(parents=True)
    (root / "heldout.csv").write_text("text,label\ngreat film,fresh\ndull,rotten\n")
    rubric = yaml.safe_load((REPO / "rubrics" / "homework.yaml").read_text())
    rubric["settings"] |= {"heldout": "heldout.csv", "train": None, "train_readme": None} | settings
    rubric["settings"] = {k: v for k, v in rubric["settings"].items() if v is not None}
    path = root / "rubrics" / "homework.yaml"
    path.write_text(yaml.safe_dump(rubric))
    return Assignment("homework", root / "reference" / "homework", path, load_rubric(path), ModelKind())


def test_sound_settings_pass(tmp_path: Path) -> None:
    check_settings(homework(tmp_path))


@pytest.mark.parametrize(("scoring", "match"), [
    ({"accuracy": {"metric": "accuracy", "full": 0.77, "zero": "majority"}},
     r"test macro_f1 has no entry under settings.scoring; add one"),
    ({"accuracy": {"metric": "recall", "full": 0.77}, "macro_f1": {"metric": "macro_f1", "full": 0.75}},
     r"settings.scoring.accuracy needs `metric:` one of accuracy, macro_f1, weighted_f1"),
    ({"accuracy": {"metric": "accuracy", "full": "high"}, "macro_f1": {"metric": "macro_f1", "full": 0.75}},
     r"settings.scoring.accuracy needs `full:` a number"),
])
def test_a_scoring_mistake_names_the_rubric_file_and_the_test(tmp_path: Path, scoring: dict, match: str) -> None:
    assignment = homework(tmp_path, scoring=scoring)
    with pytest.raises(RubricError, match=match) as info:
        check_settings(assignment)
    assert str(assignment.rubric_path) in str(info.value)


def test_a_held_out_set_that_cannot_be_read_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InstructorError, match=r"homework data .*missing.csv .*cannot be read: .*No such file"):
        check_settings(homework(tmp_path, heldout="missing.csv"))
    (tmp_path / "heldout.csv").write_text("review,verdict\ngreat,fresh\n")
    with pytest.raises(InstructorError, match=r"needs the columns text,label"):
        check_settings(homework(tmp_path / "other", heldout=str(tmp_path / "heldout.csv")))
