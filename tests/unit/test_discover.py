"""grader/discover.py: a notebook under another file name is matched by its metadata, or rejected with
the expected name; hostile zips and folders are rejected before anything is unpacked or read."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader import discover as discover_module
from grader.kinds import load_course
from grader.discover import discover, extract_zip, student_folders, zip_problem
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


# -- zips and folders are checked before anything is unpacked or read --------------------------------
HOSTILE = REPO / "tests" / "fixtures" / "hostile"
NOTEBOOK = nbformat.writes(nbformat.v4.new_notebook())


def zip_with(path: Path, members: dict[str | zipfile.ZipInfo, bytes | str],
             compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def symlink_member(name: str) -> zipfile.ZipInfo:
    """A member that unpacks as a symbolic link (its data is the link's target)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix: the mode bits below are read
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def test_a_clean_zip_has_no_problem(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "ada.zip", {"ada/05_attention_mechanism.ipynb": NOTEBOOK, "ada/data/x.csv": "a,b\n"},
                    zipfile.ZIP_DEFLATED)
    assert zip_problem(path) == ""


@pytest.mark.parametrize("member", ["../evil.ipynb", "ada/../../evil.ipynb", "/etc/cron.d/evil", "..\\evil.ipynb"])
def test_a_zip_slip_path_is_rejected(tmp_path: Path, member: str) -> None:
    path = zip_with(tmp_path / "eve.zip", {"05_attention_mechanism.ipynb": NOTEBOOK, member: "pwned"})
    assert zip_problem(path) == (f"eve.zip contains the unsafe path {member!r}; zip the folder without ../ or "
                                 "absolute paths")


def test_a_symlink_member_is_rejected(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "eve.zip", {symlink_member("05_attention_mechanism.ipynb"): "/etc/shadow"})
    assert zip_problem(path) == ("eve.zip contains a symbolic link (05_attention_mechanism.ipynb); "
                                 "zip the files themselves")


def test_a_member_that_inflates_more_than_200_to_1_is_a_zip_bomb(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "eve.zip", {"05_attention_mechanism.ipynb": b"\0" * (4 << 20)}, zipfile.ZIP_DEFLATED)
    assert zip_problem(path) == "eve.zip compresses 05_attention_mechanism.ipynb more than 200:1; is it a zip bomb?"


def test_a_small_file_may_compress_well(tmp_path: Path) -> None:
    # below 1 MiB the ratio says nothing: a notebook of empty cells compresses far past 200:1 too
    path = zip_with(tmp_path / "ada.zip", {"05_attention_mechanism.ipynb": " " * 500_000}, zipfile.ZIP_DEFLATED)
    assert zip_problem(path) == ""


def test_a_member_declaring_more_than_the_file_limit_is_a_zip_bomb() -> None:
    assert zip_problem(HOSTILE / "zipbomb.zip") == "zipbomb.zip unpacks to more than 200 MiB; is it a zip bomb?"
    assert "unsafe path '../../evil/toy.ipynb'" in zip_problem(HOSTILE / "zipslip.zip")


def test_members_adding_up_past_the_total_limit_are_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discover_module, "MAX_TOTAL_BYTES", 1 << 20)
    path = zip_with(tmp_path / "eve.zip", {f"part{i}.bin": os.urandom(400_000) for i in range(3)})
    assert zip_problem(path) == "eve.zip unpacks to more than 1 MiB; is it a zip bomb?"


def test_a_zip_with_too_many_files_is_rejected(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "eve.zip", {f"f{i}.txt": "" for i in range(discover_module.MAX_FILES + 1)})
    assert zip_problem(path) == f"eve.zip holds more than {discover_module.MAX_FILES} files"
    fine = zip_with(tmp_path / "ada.zip", {f"f{i}.txt": "" for i in range(discover_module.MAX_FILES)})
    assert zip_problem(fine) == ""


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", NOTEBOOK.encode()])
def test_a_file_that_is_not_a_zip_is_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "eve.zip"
    path.write_bytes(content)
    assert zip_problem(path).startswith("eve.zip is not a valid zip file (")
    assert zip_problem(path).endswith("); zip your folder again")


def test_discovery_rejects_a_hostile_zip_as_that_students_result(tmp_path: Path) -> None:
    zip_with(tmp_path / "eve.zip", {"../05_attention_mechanism.ipynb": NOTEBOOK})
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / f"{ASSIGNMENT}.ipynb").write_text(NOTEBOOK)
    submissions = found(tmp_path)
    assert "unsafe path" in submissions["eve"].problem and not submissions["eve"].content_hash
    assert submissions["ada"].problem == "" and submissions["ada"].content_hash


def test_extraction_enforces_real_sizes_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slip = zip_with(tmp_path / "slip.zip", {"../outside.txt": "x"})
    (tmp_path / "into").mkdir()
    with pytest.raises(ValueError, match="unsafe path '../outside.txt' in slip.zip"):
        extract_zip(slip, tmp_path / "into")
    assert not (tmp_path / "outside.txt").exists()

    monkeypatch.setattr(discover_module, "MAX_TOTAL_BYTES", 1 << 20)
    big = zip_with(tmp_path / "big.zip", {"a.bin": b"\0" * (2 << 20)}, zipfile.ZIP_DEFLATED)
    (tmp_path / "big").mkdir()
    with pytest.raises(ValueError, match="big.zip unpacks to more than 1 MiB"):
        extract_zip(big, tmp_path / "big")


def test_extraction_skips_mac_metadata_and_returns_the_single_folder(tmp_path: Path) -> None:
    path = zip_with(tmp_path / "ada.zip", {"ada/05_attention_mechanism.ipynb": NOTEBOOK, "__MACOSX/ada/._x": "meta",
                                           "ada/._05_attention_mechanism.ipynb": "meta"})
    (tmp_path / "out").mkdir()
    folder = extract_zip(path, tmp_path / "out")
    assert folder == tmp_path / "out" / "ada"
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["05_attention_mechanism.ipynb", "ada"]


def test_a_student_folder_that_is_a_symlink_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "eve").symlink_to(tmp_path / "real")
    (folder,) = student_folders(tmp_path / "class")
    assert folder.student == "eve"
    assert folder.problem == "the submission is a symbolic link; hand in the files themselves"


def test_a_symlink_out_of_a_folder_is_rejected_and_one_inside_is_not(tmp_path: Path) -> None:
    for student in ("ada", "eve"):
        (tmp_path / student / "data").mkdir(parents=True)
        (tmp_path / student / "data" / "x.csv").write_text("a\n")
    (tmp_path / "ada" / "latest.csv").symlink_to(tmp_path / "ada" / "data" / "x.csv")
    (tmp_path / "eve" / "data" / "key").symlink_to("/etc/passwd")
    problems = {f.student: f.problem for f in student_folders(tmp_path)}
    assert problems == {"ada": "", "eve": "data/key is a symbolic link to a file outside your submission; "
                                              "replace it with the file itself"}


def test_a_folder_with_too_many_files_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discover_module, "MAX_FILES", 5)
    (tmp_path / "eve").mkdir()
    for i in range(6):
        (tmp_path / "eve" / f"{i}.txt").write_text("x")
    (folder,) = student_folders(tmp_path)
    assert folder.problem == "the submission holds more than 5 files or 200 MiB; remove data and outputs"


def test_hidden_entries_and_stray_files_are_not_students(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "ada").mkdir()
    zip_with(tmp_path / "bo.zip", {"x.ipynb": NOTEBOOK})
    assert [f.student for f in student_folders(tmp_path)] == ["ada", "bo"]
