"""An instructor's mistake stops `grade` with exit 1 and a message naming the file and the fix;
no student's result ever says the grader failed because of the course.

The CLI cases copy one assignment of the repo's course into tmp_path, break it, and run the
real `grade` command on a one-student class: the pre-flight finds the mistake before any
student code runs, so they need no sandbox (--no-sandbox) and no root. The pool and Dask cases
find the mistake while grading, in a worker (tests/unit/pipeline/test_submission.py's Scripted kind);
a hidden test's failed self-check is found while grading a real notebook (no pre-flight, no sandbox).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.discover import discover
from grader.errors import InstructorError
from grader.kinds import load_course
from grader.models import RunState, Status
from grader.options import GradingOptions
from grader.pipeline.pool import grade_class
from grader.pipeline.submission import grade_and_time
from grader.store.gradebook import Gradebook
from tests.conftest import REPO
from tests.unit.pipeline.test_submission import scripted_course, submission

ASSIGNMENT = "05_attention_mechanism"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


def course_copy(root: Path) -> Path:
    """The repo's course reduced to one assignment, and a class of one student who handed in the reference."""
    (root / "course" / "rubrics").mkdir(parents=True)
    shutil.copyfile(REPO / "rubrics" / f"{ASSIGNMENT}.yaml", root / "course" / "rubrics" / f"{ASSIGNMENT}.yaml")
    shutil.copytree(REPO / "reference" / ASSIGNMENT, root / "course" / "reference" / ASSIGNMENT)
    (root / "subs" / "ann").mkdir(parents=True)
    shutil.copyfile(REPO / "reference" / ASSIGNMENT / NOTEBOOK, root / "subs" / "ann" / NOTEBOOK)
    return root / "course"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def grade(root: Path) -> subprocess.CompletedProcess[str]:
    """`grade subs/` with this course, as an instructor runs it."""
    command = Path(sys.executable).with_name("grade")
    return subprocess.run([str(command), "subs", "--course", "course", "--db", "grade.db", "--reports", "reports",
                           "--no-sandbox", "--jobs", "1"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "300"})


def assert_nothing_recorded(root: Path) -> None:
    if (root / "grade.db").exists():
        with Gradebook(str(root / "grade.db")) as store:
            assert store.runs() == [] and store.latest_grades() == []
    assert not (root / "reports").exists()


def test_a_rubric_naming_a_test_that_does_not_exist_stops_the_run(tmp_path: Path) -> None:
    course = course_copy(tmp_path)
    edit(course / "rubrics" / f"{ASSIGNMENT}.yaml", "      test_causal_mask: 3\n",
         "      test_causal_mask: 3\n      test_causal_mask_is_square: 1\n")
    done = grade(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (f"error: course/rubrics/{ASSIGNMENT}.yaml lists tests that no file under "
            f"course/reference/{ASSIGNMENT}/tests/ defines: test_causal_mask_is_square; rename each to an existing "
            "test function or delete it from the rubric") in done.stderr
    assert_nothing_recorded(tmp_path)


def test_a_hidden_test_file_that_does_not_collect_stops_the_run(tmp_path: Path) -> None:
    course = course_copy(tmp_path)
    hidden = course / "reference" / ASSIGNMENT / "tests" / "hidden" / "test_05_hidden.py"
    edit(hidden, "def test_causal_mask(student):", "def test_causal_mask(student:")
    done = grade(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert (f"error: test files that cannot be collected: course/reference/{ASSIGNMENT}/tests/hidden/"
            "test_05_hidden.py: SyntaxError: '(' was never closed (line ") in message
    assert f"`pytest --collect-only course/reference/{ASSIGNMENT}/tests/hidden/test_05_hidden.py`" in message
    assert_nothing_recorded(tmp_path)


def test_a_reference_that_fails_its_own_tests_stops_the_run(tmp_path: Path) -> None:
    course = course_copy(tmp_path)
    # The reference's softmax over the queries: every student who got it right would lose points.
    edit(course / "reference" / ASSIGNMENT / NOTEBOOK, "weights = torch.softmax(scores, dim=-1)",
         "weights = torch.softmax(scores, dim=-2)")
    done = grade(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert (f"error: the reference notebook course/reference/{ASSIGNMENT}/{NOTEBOOK} fails its own tests, so "
            "every student would lose these points; fix the reference or the tests:") in message
    assert f"test_sdpa_weights_sum_to_one (course/reference/{ASSIGNMENT}/tests/hidden/test_05_hidden.py)" in message
    assert_nothing_recorded(tmp_path)


@pytest.mark.parametrize("cluster", [None, "local:1"], ids=["pool", "dask"])
def test_a_mistake_found_by_a_worker_stops_the_run_and_is_nobodys_result(tmp_path: Path, cluster: str | None) -> None:
    course = scripted_course(tmp_path, "a1")
    subs = [submission(tmp_path, "ann", "a1", "ok"), submission(tmp_path, "bob", "a1", "course"),
            submission(tmp_path, "cat", "a1", "ok")]
    with Gradebook(str(tmp_path / "g.db")) as store:
        with pytest.raises(InstructorError, match="a1.yaml: test_one compares with a reference that is wrong"):
            grade_class(subs, course, store, GradingOptions(sandbox=False, jobs=1, cluster=cluster))
        (run,) = store.runs()
        assert run.status == RunState.FAILED
        stored = store.latest_grades()
    assert "bob" not in {g.student for g in stored}
    assert all(g.status is Status.GRADED for g in stored)  # ann's, if it came first, is a real grade


def test_a_self_check_that_fails_while_a_student_is_graded_is_the_courses_mistake(tmp_path: Path) -> None:
    """The pre-flight would catch this one; a self-check that fails only in a worker (its inputs, its
    host) reaches grade_and_time, which must raise, never record ann's lost points."""
    course = course_copy(tmp_path)
    edit(course / "reference" / ASSIGNMENT / "tests" / "hidden" / "test_05_hidden.py",
         'self_check(is_close(expected_output, F.scaled_dot_product_attention(q, k, v)), "reference vs F.sdpa")',
         'self_check(False, "reference vs F.sdpa")')
    loaded = load_course(course)
    (ann,) = discover(tmp_path / "subs", loaded)
    with pytest.raises(InstructorError) as info:
        grade_and_time(ann, loaded.assignments[ASSIGNMENT], GradingOptions(sandbox=False, jobs=1), slot=0)
    assert (f"hidden tests failed the grader's self-check while grading ann's {ASSIGNMENT}: "
            f"test_sdpa_matches_reference ({course.resolve()}/reference/{ASSIGNMENT}/tests/hidden/test_05_hidden.py): "
            "reference vs F.sdpa") in str(info.value)
