"""A notebook under another file name is matched by its metadata, or rejected with the expected name."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import nbformat

from grader.course.load import load_course
from grader.discover import discover
from grader.models import SubmissionKind
from grader.prepare import materialize
from grader.students.strip import strip_solutions
from tests.conftest import REPO

ASSIGNMENT = "05_attention_mechanism"
COURSE = load_course(REPO)


def released() -> nbformat.NotebookNode:
    nb = nbformat.read(REPO / "reference" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    return strip_solutions(nb, ASSIGNMENT)


def found(root: Path) -> dict[str, object]:
    return {s.student: s for s in discover(root, COURSE, only={ASSIGNMENT})}


def test_a_renamed_notebook_is_claimed_by_its_metadata(tmp_path: Path) -> None:
    (tmp_path / "ana").mkdir()
    nbformat.write(released(), tmp_path / "ana" / "attention (1).ipynb")
    submission = found(tmp_path)["ana"]
    assert submission.kind is SubmissionKind.NOTEBOOK and submission.content_hash and not submission.problem
    assert submission.source.name == "attention (1).ipynb"


def test_a_close_name_without_metadata_is_rejected_with_the_expected_name(tmp_path: Path) -> None:
    (tmp_path / "ben").mkdir()
    nb = released()
    del nb.metadata["grade"]
    nbformat.write(nb, tmp_path / "ben" / "05_attention_mechanisms.ipynb")
    submission = found(tmp_path)["ben"]
    assert f"must be handed in as {ASSIGNMENT}.ipynb" in submission.problem
    assert "05_attention_mechanisms.ipynb" in submission.problem


def test_an_unrelated_notebook_leaves_the_assignment_missing(tmp_path: Path) -> None:
    (tmp_path / "cy").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "cy" / "scratchpad.ipynb")
    (tmp_path / "cy" / "broken.ipynb").write_text("{not json")
    submission = found(tmp_path)["cy"]
    assert not submission.content_hash and not submission.problem  # missing, not an error


def test_the_exact_name_wins_over_metadata(tmp_path: Path) -> None:
    shutil.copytree(REPO / "submissions" / "ada_lovelace", tmp_path / "ada")
    nbformat.write(released(), tmp_path / "ada" / "copy.ipynb")
    assert found(tmp_path)["ada"].source.name == f"{ASSIGNMENT}.ipynb"


def zipped(path: Path, members: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)


def test_a_renamed_notebook_inside_a_zip_is_claimed_by_its_metadata(tmp_path: Path) -> None:
    zipped(tmp_path / "dee.zip", {"dee/attention final.ipynb": nbformat.writes(released())})
    submission = found(tmp_path)["dee"]
    assert submission.kind is SubmissionKind.NOTEBOOK and submission.content_hash and not submission.problem


def test_a_close_name_inside_a_zip_is_rejected_with_the_expected_name(tmp_path: Path) -> None:
    nb = released()
    del nb.metadata["grade"]
    zipped(tmp_path / "eve.zip", {"05_attention_mechanisms.ipynb": nbformat.writes(nb)})
    assert f"must be handed in as {ASSIGNMENT}.ipynb" in found(tmp_path)["eve"].problem


def test_a_zip_with_an_unrelated_notebook_leaves_the_assignment_missing(tmp_path: Path) -> None:
    zipped(tmp_path / "fin.zip", {"scratch.ipynb": nbformat.writes(nbformat.v4.new_notebook()),
                                  "broken.ipynb": "{not json"})
    submission = found(tmp_path)["fin"]
    assert not submission.content_hash and not submission.problem


def test_the_renamed_notebook_in_a_zip_is_the_one_prepared(tmp_path: Path) -> None:
    nb = released()
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("the renamed copy"))
    zipped(tmp_path / "gil.zip", {"gil/notes.ipynb": nbformat.writes(nbformat.v4.new_notebook()),
                                  "gil/mine.ipynb": nbformat.writes(nb)})
    submission = found(tmp_path)["gil"]
    work, scratch = tmp_path / "work", tmp_path / "scratch"
    work.mkdir()
    scratch.mkdir()
    prepared = materialize(submission, f"{ASSIGNMENT}.ipynb", work, scratch)
    assert prepared.cells[0].source == "the renamed copy"
