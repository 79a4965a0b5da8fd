"""`grade check`: the same verdicts as the instructor's run, CI outputs, and tests students
cannot edit to pass. Real sandbox, real kernels, the real released repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader.kernel.ready import wait_until_ready
from grader.students.check import CheckRequest, run_check
from grader.kinds import load_course
from grader.discover import discover
from grader.options import GradingOptions
from grader.pipeline.pool import grade_class
from grader.students.strip import strip_solutions
from grader.students.release import ReleaseOptions, build_release
from grader.sandbox.bwrap import Limits
from grader.store.gradebook import Gradebook
from tests.conftest import REPO, requires_sandbox

ASSIGNMENT = "05_attention_mechanism"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
CAUSAL_SOLUTION = "return torch.ones(size, size, dtype=torch.bool).tril()"


def reference() -> nbformat.NotebookNode:
    return nbformat.read(REPO / "reference" / ASSIGNMENT / NOTEBOOK, as_version=4)


def partly_wrong() -> nbformat.NotebookNode:
    """causal_mask returns floats (a public test fails) and the softmax runs over the queries
    (only hidden tests can tell)."""
    nb = reference()
    for cell in nb.cells:
        cell.source = cell.source.replace(CAUSAL_SOLUTION, "return torch.ones(size, size).tril()")
        cell.source = cell.source.replace("weights = torch.softmax(scores, dim=-1)",
                                          "weights = torch.softmax(scores, dim=-2)")
    return nb


def grade_cli(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    grade = Path(sys.executable).with_name("grade")
    return subprocess.run([str(grade), "check", *args], cwd=repo, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})})


@pytest.fixture(scope="module")
def student_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A released repo whose notebook 05 is partly wrong; the others are untouched."""
    root = build_release(load_course(REPO), ReleaseOptions(out=tmp_path_factory.mktemp("check") / "repo")).root
    nbformat.write(partly_wrong(), root / NOTEBOOK)
    return root


@pytest.mark.sandbox
@requires_sandbox
def test_check_gives_the_instructors_points_and_messages(student_repo: Path, tmp_path: Path) -> None:
    """The same notebooks through `grade submissions/` and through `grade check`: the public
    tests' outcomes, points and messages are identical."""
    notebooks = {"partly_wrong": partly_wrong(), "unfilled": strip_solutions(reference(), ASSIGNMENT)}
    for student, nb in notebooks.items():
        (tmp_path / "subs" / student).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "subs" / student / NOTEBOOK)
    course = load_course(REPO)
    with Gradebook(str(tmp_path / "g.db")) as store:
        result = grade_class(discover(tmp_path / "subs", course, only={ASSIGNMENT}), course, store,
                             GradingOptions(limits=Limits(cell_timeout_s=60, submission_timeout_s=180), jobs=2))
    instructor = {g.student: g for g in result.grades}
    for student in notebooks:
        outcome = run_check(CheckRequest(notebooks=(tmp_path / "subs" / student / NOTEBOOK,), start=REPO))
        assert outcome.sandboxed
        (checked,) = outcome.checked
        mine = [(t.test_id, t.part, t.outcome, t.points, t.max_points, t.message) for t in checked.grade.tests]
        public = {t[0] for t in mine}
        theirs = [(t.test_id, t.part, t.outcome, t.points, t.max_points, t.message)
                  for t in instructor[student].tests if t.test_id in public]
        assert mine == theirs and len(mine) == 3, student
    assert [t.outcome for t in run_check(CheckRequest(notebooks=(tmp_path / "subs/partly_wrong" / NOTEBOOK,),
                                                      start=student_repo)).checked[0].grade.tests] == \
        ["passed", "failed", "passed"]  # the released repo's points.yaml and tests agree with the course repo
    assert instructor["partly_wrong"].score < instructor["partly_wrong"].max_score - 1  # hidden tests saw more


def test_check_ci_writes_junit_summary_annotations_and_environment(student_repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    started = time.monotonic()
    done = grade_cli(student_repo, "--ci", "--results", str(tmp_path / "results"),
                     env={"GITHUB_STEP_SUMMARY": str(summary)})
    seconds = time.monotonic() - started
    print(f"grade check --ci on notebook 05: {seconds:.1f} s wall")
    assert done.returncode == 1, done.stdout + done.stderr  # a public test fails
    assert "01_neural_networks.ipynb: not started" in done.stderr  # untouched notebooks are left out
    suites = {s.get("name"): s for s in ET.parse(tmp_path / "results/junit.xml").getroot()}
    assert set(suites) == {ASSIGNMENT}
    assert (suites[ASSIGNMENT].get("tests"), suites[ASSIGNMENT].get("failures")) == ("3", "1")
    failure = next(c for c in suites[ASSIGNMENT] if c.get("name") == "test_public_causal_mask").find("failure")
    assert failure is not None and "dtype" in failure.get("message")
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "2/3 public points" in text and "test_public_causal_mask" in text
    annotation = next(line for line in done.stdout.splitlines() if line.startswith("::error "))
    assert annotation.startswith(f"::error file={NOTEBOOK},line=") and "title=test_public_causal_mask (cell " in annotation
    line = int(annotation.split("line=")[1].split(",")[0])
    assert "def causal_mask" in (student_repo / NOTEBOOK).read_text().splitlines()[line - 1]
    environment = json.loads((tmp_path / "results/environment.json").read_text())
    for key in ("python", "torch", "transformers", "cpu", "gpu", "sandbox", "public_tests_sha256"):
        assert environment[key], key
    assert f"torch {environment['torch']}" in done.stderr  # printed too
    assert seconds < 60


def test_edited_tests_cannot_make_ci_pass(student_repo: Path, tmp_path: Path) -> None:
    """A student who rewrites the public tests to pass: refused against the pinned hash, and
    ignored when the tests come from the release checkout (--tests-from)."""
    pin = json.loads((student_repo / ".grade/release.json").read_text())["public_tests_sha256"]
    pristine = tmp_path / "release"
    shutil.copytree(student_repo, pristine)
    cheat = tmp_path / "cheat"
    shutil.copytree(student_repo, cheat)
    test_file = cheat / "tests" / ASSIGNMENT / "test_05_public.py"
    test_file.write_text(test_file.read_text().replace("assert_tensor(student.causal_mask(4)",
                                                       "return  # assert_tensor(student.causal_mask(4)"))
    done = grade_cli(cheat, "--ci", "--results", str(tmp_path / "r1"), "--tests-sha256", pin)
    assert done.returncode != 0 and "not the released ones" in done.stdout + done.stderr
    done = grade_cli(cheat, "--ci", "--results", str(tmp_path / "r2"), "--tests-from", str(pristine),
                     "--tests-sha256", pin)
    assert done.returncode == 1 and "test_public_causal_mask" in done.stdout
    suite = ET.parse(tmp_path / "r2/junit.xml").getroot()[0]
    assert suite.get("failures") == "1"


def test_a_kernel_that_dies_as_it_starts_is_this_notebooks_error_not_a_traceback(
        student_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever stops the kernel from starting (here: it is killed before it answers), `grade check`
    reports it as the notebook's result, with what happened, and goes on; it does not end in a traceback."""
    import grader.kernel.execute as execute

    def dies(kc: Any, timeout_s: float) -> None:
        kc.parent.provisioner.process.kill()
        kc.parent.provisioner.process.wait()
        wait_until_ready(kc, timeout_s)

    monkeypatch.setattr(execute, "wait_until_ready", dies)
    outcome = run_check(CheckRequest(notebooks=(student_repo / NOTEBOOK,), start=student_repo, sandbox="off"))
    (checked,) = outcome.checked
    assert checked.grade.status.value == "error" and not outcome.ok
    assert "Kernel died before replying to kernel_info" in checked.grade.message
    assert checked.grade.tests and all("the check could not run" in t.message and t.points == 0
                                       for t in checked.grade.tests)
