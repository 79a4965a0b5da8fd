"""The README's promise: the demo class, graded in the real sandbox, gets the expected scores."""

from pathlib import Path

import pytest

from grader.run import RunRequest, grade_folder
from tests.conftest import REPO, requires_sandbox

EXPECTED = {  # student -> (status, score out of 20)
    "ada_lovelace": ("graded", 20), "alan_turing": ("graded", 20), "grace_hopper": ("graded", 20),
    "zip_student": ("graded", 20), "dara_missing_scale": ("graded", 18), "eli_mask_after_softmax": ("graded", 16),
    "fay_wrong_softmax_dim": ("graded", 16), "gus_heads_wrong_order": ("graded", 17), "hana_raises": ("graded", 10),
    "ivan_infinite_loop": ("timeout", 0), "jo_unfilled": ("graded", 0), "kim_cheater": ("graded", 0),
}

pytestmark = [pytest.mark.sandbox, requires_sandbox]


def test_demo_class_scores_then_unchanged_rerun_reuses_everything(tmp_path: Path) -> None:
    request = RunRequest(path=REPO / "submissions", db=str(tmp_path / "g.db"), reports_dir=tmp_path / "reports",
                         timeout_s=60, cell_timeout_s=15, jobs=2, course_dir=REPO)
    first = grade_folder(request)
    got = {g.student: (g.status.value, g.score) for g in first.result.grades}
    assert got == EXPECTED
    assert first.index.is_file() and (tmp_path / "reports" / "students").is_dir()

    second = grade_folder(request)
    assert second.result.graded == 0 and second.result.reused == len(EXPECTED)
    assert {g.student: (g.status.value, g.score) for g in second.result.grades} == EXPECTED
