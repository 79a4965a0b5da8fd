"""The README's promise: the demo class, graded in the real sandbox, gets the expected scores.

Expected results live in tests/fixtures/demo/<assignment>.yaml, one file per assignment;
a student an assignment's file does not list must come out as missing.
"""

from pathlib import Path

import pytest
import yaml

from grader.discover import student_folders
from grader.run import RunRequest, grade_folder
from tests.conftest import REPO, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox]


def expected_results() -> dict[tuple[str, str], tuple[str, float]]:
    students = [folder.student for folder in student_folders(REPO / "submissions")]
    expected = {}
    for rubric in sorted((REPO / "rubrics").glob("*.yaml")):
        assignment = rubric.stem
        listed = yaml.safe_load((REPO / "tests/fixtures/demo" / f"{assignment}.yaml").read_text()) or {}
        for student in students:
            status, score = listed.get(student, ("missing", 0))
            expected[(student, assignment)] = (status, float(score))
    return expected


def test_demo_class_scores_then_unchanged_rerun_reuses_everything(tmp_path: Path) -> None:
    expected = expected_results()
    request = RunRequest(path=REPO / "submissions", db=str(tmp_path / "g.db"), reports_dir=tmp_path / "reports",
                         timeout_s=120, cell_timeout_s=30, jobs=2, course_dir=REPO)
    first = grade_folder(request)
    got = {(g.student, g.assignment): (g.status.value, g.score) for g in first.result.grades}
    assert {k: v for k, v in got.items() if v != expected.get(k)} == {}
    assert got.keys() == expected.keys()
    assert first.index.is_file() and (tmp_path / "reports" / "students").is_dir()

    second = grade_folder(request)
    assert second.result.graded == 0 and second.result.reused == len(expected)
    assert {(g.student, g.assignment): (g.status.value, g.score) for g in second.result.grades} == expected
