"""A renamed notebook, in a folder or inside a zip, is graded as the assignment its metadata names."""

from __future__ import annotations

import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.kinds import load_course
from grader.discover import discover
from grader.options import GradingOptions
from grader.pipeline.pool import grade_class
from grader.store.gradebook import Gradebook
from tests.conftest import REPO, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox]
ASSIGNMENT = "05_attention_mechanism"


def test_renamed_reference_notebooks_get_full_marks(tmp_path: Path) -> None:
    course = load_course(REPO)
    reference = nbformat.read(REPO / "reference" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    assert reference.metadata["grade"]["assignment"] == ASSIGNMENT
    subs = tmp_path / "subs"
    (subs / "folder_student").mkdir(parents=True)
    nbformat.write(reference, subs / "folder_student" / "my attention.ipynb")
    with zipfile.ZipFile(subs / "zip_student.zip", "w") as archive:
        archive.writestr("zip_student/attention (final).ipynb", nbformat.writes(reference))
    with Gradebook(str(tmp_path / "g.db")) as store:
        result = grade_class(discover(subs, course, only={ASSIGNMENT}), course, store, GradingOptions(jobs=2))
    scores = {g.student: (g.status.value, g.score, g.max_score) for g in result.grades}
    # every test's points; the written answers (7 more) await a TA, so the reference is 48 out of 55
    assert scores == {"folder_student": ("graded", 48.0, 55.0), "zip_student": ("graded", 48.0, 55.0)}, scores
    assert all(g.awaiting_manual for g in result.grades)
