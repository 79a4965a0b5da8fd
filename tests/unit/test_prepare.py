"""grader/prepare.py: a hostile notebook parsed with limits, and the private copy the sandbox gets.

The broken notebooks are the files of tests/fixtures/hostile/ (its README says what each tries);
every notebook there must load or be rejected exactly as its README line says.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader import prepare
from grader.errors import SubmissionRejected
from grader.models import Submission, SubmissionKind
from grader.prepare import load_notebook, materialize, package_notebook
from tests.conftest import REPO

HOSTILE = REPO / "tests" / "fixtures" / "hostile"
NAME = "toy.ipynb"
REJECTED = {
    "bad_json": "toy.ipynb is not valid JSON (line 1, column 12: Expecting value); it may have been edited by hand "
                "or merged badly: re-save it from Jupyter",
    "empty": "toy.ipynb is empty (0 bytes); save the notebook in Jupyter and hand it in again",
    "not_notebook": "toy.ipynb is JSON but not a Jupyter notebook (no cells); hand in the .ipynb file",
    "julia": "toy.ipynb runs the julia-1.9 kernel (Julia 1.9.3); the course grades Python notebooks: write the "
             "answers in Python, choose Kernel > Change kernel > Python 3 in Jupyter, and save the notebook again",
    "nbformat3": "toy.ipynb is in notebook format 3, which is not supported; open it in a current Jupyter and save it "
                 "again (or run: jupyter nbconvert --to notebook --nbformat 4)",
}


def hostile_notebooks() -> list[str]:
    return sorted(path.stem for path in HOSTILE.glob("*.ipynb"))


def test_the_readme_has_a_line_for_every_fixture() -> None:
    listed = re.findall(r"^\| `([^`]+)` \|", (HOSTILE / "README.md").read_text(), re.MULTILINE)
    assert sorted(listed) == sorted(p.name for p in HOSTILE.iterdir() if p.name != "README.md")


@pytest.mark.parametrize("name", hostile_notebooks())
def test_each_hostile_notebook_is_rejected_or_loads_as_its_readme_says(name: str) -> None:
    path = HOSTILE / f"{name}.ipynb"
    if name in REJECTED:
        with pytest.raises(SubmissionRejected) as info:
            load_notebook(path, NAME)
        assert str(info.value) == REJECTED[name]
    else:
        notebook = load_notebook(path, NAME)
        nbformat.validate(notebook)  # valid nbformat 4: the sandbox is what must stop it
        assert notebook.cells[0].cell_type == "markdown" and f"`{name}`" in notebook.cells[0].source
        assert any(cell.cell_type == "code" for cell in notebook.cells)


def write_with_metadata(path: Path, metadata: dict) -> Path:
    cell = {"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": None}
    path.write_text(json.dumps({"cells": [cell], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}))
    return path


@pytest.mark.parametrize(("metadata", "says"), [
    ({"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}}, "runs the ir kernel (R)"),
    ({"language_info": {"name": "julia"}}, "runs the a kernel (julia)"),
    ({"kernelspec": {"name": "evil\n<b>", "display_name": "x" * 500, "language": "bash"}}, "runs the evil<b> kernel (" + "x" * 60 + ")"),
])
def test_a_notebook_for_another_languages_kernel_is_refused_naming_it(tmp_path: Path, metadata: dict, says: str) -> None:
    with pytest.raises(SubmissionRejected, match=re.escape(says) + ".*the course grades Python notebooks"):
        load_notebook(write_with_metadata(tmp_path / NAME, metadata), NAME)


@pytest.mark.parametrize("metadata", [
    {}, {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
    {"kernelspec": {"name": "conda-env-dl-py", "display_name": "dl"}, "language_info": {"name": "Python"}},
    {"kernelspec": "not a mapping"},
])
def test_a_python_notebook_or_one_naming_no_language_loads(tmp_path: Path, metadata: dict) -> None:
    assert load_notebook(write_with_metadata(tmp_path / NAME, metadata), NAME).cells


def test_a_binary_file_is_not_a_notebook(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" + bytes(range(256)))
    with pytest.raises(SubmissionRejected,
                       match=r"^toy.ipynb is not a text file; hand in the .ipynb saved by Jupyter$"):
        load_notebook(path, NAME)


def test_a_notebook_over_the_size_limit_is_rejected_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / NAME
    with open(path, "wb") as handle:
        handle.truncate(prepare.MAX_NOTEBOOK_BYTES + 1)  # sparse: 20 MiB of nothing, nothing to parse
    with pytest.raises(SubmissionRejected, match=r"^toy.ipynb is 20 MiB, over the 20 MiB limit; clear all outputs"):
        load_notebook(path, NAME)


@pytest.mark.parametrize("cells", [
    [{"cell_type": "code", "id": "c1", "source": 42, "metadata": {}, "outputs": [], "execution_count": None}],
    [{"cell_type": "code"}],
    "not a list",
])
def test_a_malformed_cell_is_rejected(tmp_path: Path, cells: object) -> None:
    path = tmp_path / NAME
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))
    with pytest.raises(SubmissionRejected, match=r"^toy.ipynb (could not be read as a notebook|has a malformed cell)"):
        load_notebook(path, NAME)


def test_stored_outputs_are_dropped_never_trusted(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "x = 1", execution_count=7, outputs=[nbformat.v4.new_output("stream", text="All tests passed! 10/10")])])
    nbformat.write(nb, tmp_path / NAME)
    (cell,) = load_notebook(tmp_path / NAME, NAME).cells
    assert (cell.source, cell.outputs, cell.execution_count) == ("x = 1", [], None)


# -- the private copy ------------------------------------------------------------------------
def submission(source: Path, kind: SubmissionKind = SubmissionKind.NOTEBOOK) -> Submission:
    return Submission("ada", "toy", kind, source, "hash")


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    work, scratch = tmp_path / "work", tmp_path / "scratch"
    work.mkdir()
    scratch.mkdir()
    return work, scratch


def test_only_regular_files_are_copied_never_through_a_symlink(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "answers.txt").write_text("SECRET")
    folder = tmp_path / "ada"
    (folder / "data").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), folder / NAME)
    (folder / "data" / "train.csv").write_text("a,b\n")
    (folder / "answers.txt").symlink_to(secret / "answers.txt")
    (folder / "linked_dir").symlink_to(secret)
    work, scratch = dirs

    materialize(submission(folder / NAME), NAME, work, scratch)

    copied = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    assert copied == ["data", "data/train.csv", NAME]
    assert not any(p.is_symlink() for p in work.rglob("*"))


def test_a_zip_that_slips_past_discovery_is_still_refused(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    path = tmp_path / "ada.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../../toy.ipynb", nbformat.writes(nbformat.v4.new_notebook()))
    with pytest.raises(SubmissionRejected, match=r"^the zip could not be unpacked safely: unsafe path"):
        materialize(submission(path), NAME, *dirs)


def test_a_zip_without_the_notebook_names_it(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    path = tmp_path / "ada.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ada/other.ipynb", nbformat.writes(nbformat.v4.new_notebook()))
    with pytest.raises(SubmissionRejected, match=r"^the zip does not contain toy.ipynb$"):
        materialize(submission(path), NAME, *dirs)


def test_a_notebook_inside_a_zipped_folder_is_found_and_copied(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    path = tmp_path / "ada.zip"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("answer = 42")])
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ada/toy.ipynb", nbformat.writes(nb))
        archive.writestr("ada/weights.csv", "1,2\n")
    work, scratch = dirs
    loaded = materialize(submission(path), NAME, work, scratch)
    assert loaded.cells[0].source == "answer = 42"
    assert sorted(p.name for p in work.iterdir()) == ["toy.ipynb", "weights.csv"]


def test_a_package_becomes_one_cell_importing_every_module(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    package = tmp_path / "ada" / "toy"
    package.mkdir(parents=True)
    (package / "model.py").write_text("def double(x):\n    return 2 * x\n")
    (package / "data.py").write_text("SIZES = (1, 2)\n_private = 1\n")
    work, scratch = dirs
    notebook = materialize(submission(package, SubmissionKind.PACKAGE), NAME, work, scratch)
    (cell,) = notebook.cells
    namespace: dict = {}
    exec(cell.source, namespace)
    assert namespace["double"](4) == 8 and namespace["SIZES"] == (1, 2) and "_private" not in namespace
    assert str(work) in cell.source  # the private copy is what runs, not the student's folder


def test_an_empty_package_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "toy").mkdir()
    with pytest.raises(SubmissionRejected, match=r"^toy/ holds no Python modules \(.py files\)$"):
        package_notebook(tmp_path / "toy")
