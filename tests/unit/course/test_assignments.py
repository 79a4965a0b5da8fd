"""grader/course/assignments.py: what a grade is computed against, as content hashes.

A grade is reused only when its fingerprint is unchanged, so each input of the fingerprint must
change it: the hidden and public tests, the reference notebook, the rubric, the submission.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from grader import __version__
from grader.course.assignments import hash_files
from grader.kinds import load_course
from grader.models import Fingerprint, Submission, SubmissionKind
from tests.unit.test_kinds import write_assignment

ASSIGNMENT = "05_attention"


def fingerprint(root: Path, submission_hash: str = "sub-1") -> Fingerprint:
    """Read the course afresh (hashes are cached per loaded assignment) and fingerprint a submission."""
    assignment = load_course(root).assignments[ASSIGNMENT]
    submission = Submission("ada", ASSIGNMENT, SubmissionKind.NOTEBOOK, root / "ada.ipynb", submission_hash)
    return assignment.fingerprint(submission)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    write_assignment(tmp_path, ASSIGNMENT)
    write_assignment(tmp_path, "01_mlp")
    (tmp_path / "reference" / ASSIGNMENT / "tests" / "public").mkdir()
    (tmp_path / "reference" / ASSIGNMENT / "tests" / "public" / "test_public.py").write_text("def test_p(): pass\n")
    return tmp_path


def test_the_fingerprint_is_stable_and_names_the_grader_version(course: Path) -> None:
    first, again = fingerprint(course), fingerprint(course)
    assert first == again
    assert first.submission_hash == "sub-1" and first.grader_version == __version__
    assert len({first.tests_hash, first.reference_hash, first.rubric_hash}) == 3


def edit_hidden_test(root: Path) -> None:
    path = root / "reference" / ASSIGNMENT / "tests" / "hidden" / "test_hidden.py"
    path.write_text(path.read_text() + "    assert True\n")


def edit_public_test(root: Path) -> None:
    (root / "reference" / ASSIGNMENT / "tests" / "public" / "test_public.py").write_text("def test_p(): assert 1\n")


def add_test_helper(root: Path) -> None:
    (root / "reference" / ASSIGNMENT / "tests" / "hidden" / "shapes.py").write_text("SHAPE = (2, 3)\n")


def edit_reference(root: Path) -> None:
    path = root / "reference" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    path.write_text(path.read_text().replace("x = 1", "x = 2"))


def edit_rubric(root: Path) -> None:
    path = root / "rubrics" / f"{ASSIGNMENT}.yaml"
    path.write_text(path.read_text().replace(f"test_{ASSIGNMENT}: 1", f"test_{ASSIGNMENT}: 2"))


@pytest.mark.parametrize(("edit", "changed"), [
    (edit_hidden_test, "tests_hash"),
    (edit_public_test, "tests_hash"),
    (add_test_helper, "tests_hash"),
    (edit_reference, "reference_hash"),
    (edit_rubric, "rubric_hash"),
])
def test_each_input_changes_its_own_hash_and_no_other(course: Path, edit, changed: str) -> None:
    before = fingerprint(course)
    edit(course)
    after = fingerprint(course)
    differ = {f.name for f in fields(Fingerprint) if getattr(before, f.name) != getattr(after, f.name)}
    assert differ == {changed}


def test_another_assignments_files_do_not_change_this_fingerprint(course: Path) -> None:
    before = fingerprint(course)
    (course / "reference" / "01_mlp" / "tests" / "hidden" / "test_hidden.py").write_text("def test_01_mlp(): 1\n")
    (course / "rubrics" / "01_mlp.yaml").write_text((course / "rubrics" / "01_mlp.yaml").read_text() + "title: MLP\n")
    assert fingerprint(course) == before


def test_a_resubmission_changes_only_the_submission_hash(course: Path) -> None:
    before, after = fingerprint(course, "sub-1"), fingerprint(course, "sub-2")
    assert {f.name for f in fields(Fingerprint) if getattr(before, f.name) != getattr(after, f.name)} == {
        "submission_hash"}


def test_hash_files_covers_names_as_well_as_bytes(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("same")
    (tmp_path / "b.py").write_text("same")
    one = hash_files([tmp_path / "a.py"], base=tmp_path)
    assert one != hash_files([tmp_path / "b.py"], base=tmp_path)  # a renamed test file is another suite
    assert hash_files([tmp_path / "b.py", tmp_path / "a.py"], base=tmp_path) == hash_files(
        [tmp_path / "a.py", tmp_path / "b.py"], base=tmp_path)  # order of discovery does not matter
    (tmp_path / "a.py").write_text("different")
    assert hash_files([tmp_path / "a.py"], base=tmp_path) != one
