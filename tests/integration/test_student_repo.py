"""Black-box test of grade's pytest plugin: a released student repo is written to a temporary
folder, plain `pytest` is run there in a subprocess, and the outcome counts are asserted for
the reference notebook, the notebook as released (unfilled) and a partly wrong one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from grader.kinds import load_course
from grader.students.release import ReleaseOptions, build_release
from tests.conftest import REPO

ASSIGNMENT = "05_attention_mechanism"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
CAUSAL_SOLUTION = "return torch.ones(size, size, dtype=torch.bool).tril()"


@pytest.fixture(scope="module")
def student_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_release(load_course(REPO), ReleaseOptions(out=tmp_path_factory.mktemp("student") / "repo")).root


def run_pytest(repo: Path, notebooks: Path | None, tmp_path: Path, *args: str) -> dict[str, int]:
    """Plain pytest in the student repo; outcome counts read from its JUnit file."""
    junit = tmp_path / "junit.xml"
    command = [sys.executable, "-m", "pytest", f"--junitxml={junit}", *args]
    if notebooks is not None:
        command.append(f"--grade-notebooks={notebooks}")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=300, env=env)
    assert junit.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for case in ET.parse(junit).iter("testcase"):
        kind = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
        counts[{"failure": "failed"}.get(kind, kind)] += 1
    counts["returncode"] = done.returncode
    counts["output"] = done.stdout  # type: ignore[assignment]
    return counts


def notebook_folder(tmp_path: Path, nb: nbformat.NotebookNode) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(nb, folder / NOTEBOOK)
    return folder


def reference() -> nbformat.NotebookNode:
    return nbformat.read(REPO / "reference" / ASSIGNMENT / NOTEBOOK, as_version=4)


def test_reference_passes_every_public_test(student_repo: Path, tmp_path: Path) -> None:
    counts = run_pytest(student_repo, notebook_folder(tmp_path, reference()), tmp_path, f"tests/{ASSIGNMENT}")
    assert (counts["passed"], counts["failed"], counts["error"]) == (3, 0, 0), counts["output"]
    assert counts["returncode"] == 0


def test_released_notebook_fails_every_public_test_with_the_instructors_message(student_repo: Path,
                                                                                 tmp_path: Path) -> None:
    counts = run_pytest(student_repo, None, tmp_path, f"tests/{ASSIGNMENT}")  # the repo's own, unfilled notebook
    assert (counts["passed"], counts["failed"], counts["error"]) == (0, 3, 0), counts["output"]
    assert "causal_mask(...) is not implemented yet (it raised NotImplementedError)" in counts["output"]
    assert counts["returncode"] == 1


def test_partly_wrong_notebook(student_repo: Path, tmp_path: Path) -> None:
    """causal_mask returns a float mask: one public test fails, with the dtype in its message."""
    nb = reference()
    cell = next(c for c in nb.cells if CAUSAL_SOLUTION in c.source)
    cell.source = cell.source.replace(CAUSAL_SOLUTION, "return torch.ones(size, size).tril()")
    counts = run_pytest(student_repo, notebook_folder(tmp_path, nb), tmp_path, f"tests/{ASSIGNMENT}")
    assert (counts["passed"], counts["failed"], counts["error"]) == (2, 1, 0), counts["output"]
    assert "test_public_causal_mask" in counts["output"] and "dtype" in counts["output"]


def test_a_missing_notebook_is_an_error_that_names_it(student_repo: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    counts = run_pytest(student_repo, empty, tmp_path, f"tests/{ASSIGNMENT}")
    assert counts["error"] == 3 and f"{NOTEBOOK} not found" in counts["output"], counts["output"]
