"""Turn a discovered submission into a private working copy and a notebook to run.

Runs in the trusted process before the sandbox starts: the student's files are
copied (regular files only, never through a symlink) into a fresh folder that
becomes the sandbox's only writable place, and the notebook is parsed with limits.
Everything that goes wrong here is the student's result (REJECTED), with a fix.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import nbformat

from grader.discover import extract_zip, notebook_assignment
from grader.errors import SubmissionRejected
from grader.models import Submission, SubmissionKind

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


COURSE_LANGUAGE = "python"  # the language of the course's kernel; notebooks in another are refused


def materialize(submission: Submission, notebook_name: str, workdir: Path, scratch: Path) -> nbformat.NotebookNode:
    """Copy the submission into workdir; return the notebook to execute there."""
    source = submission.source
    if source.suffix == ".zip" and source.is_file():
        unpacked = scratch / "unzipped"
        unpacked.mkdir()
        try:
            source = extract_zip(source, unpacked)
        except (ValueError, OSError) as error:
            raise SubmissionRejected(f"the zip could not be unpacked safely: {error}") from None
        source = locate(source, submission.assignment, notebook_name, submission.kind)
    folder = source if source.is_dir() else source.parent
    _copy_regular_files(folder, workdir)
    relative = source.relative_to(folder) if source != folder else Path(".")
    if submission.kind is SubmissionKind.PACKAGE:
        return package_notebook(workdir / relative)
    return load_notebook(workdir / relative, notebook_name)


def locate(root: Path, assignment: str, notebook_name: str, kind: SubmissionKind) -> Path:
    """The submitted notebook or package inside an unpacked zip (discovery saw it there)."""
    candidates = [notebook_name] if kind is SubmissionKind.NOTEBOOK else [f"{assignment}.py", assignment]
    for name in candidates:
        for path in [root / name, *root.rglob(name)]:
            if path.exists() and not path.is_symlink():
                return path
    if kind is SubmissionKind.NOTEBOOK:  # renamed: discovery matched it by its metadata
        for path in sorted(root.rglob("*.ipynb")):
            if not path.is_symlink() and notebook_assignment(path) == assignment:
                return path
    raise SubmissionRejected(f"the zip does not contain {candidates[0]}")


def _copy_regular_files(source: Path, dest: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = [d for d in dirnames if not Path(dirpath, d).is_symlink()]
        target_dir = dest / Path(dirpath).relative_to(source)
        target_dir.mkdir(parents=True, exist_ok=True)
        for name in filenames:
            path = Path(dirpath, name)
            if stat.S_ISREG(path.lstat().st_mode):
                shutil.copyfile(path, target_dir / name, follow_symlinks=False)


def load_notebook(path: Path, expected_name: str) -> nbformat.NotebookNode:
    """Parse a hostile notebook file; every failure says how to fix it."""
    name = expected_name
    size = path.stat().st_size
    if size == 0:
        raise SubmissionRejected(f"{name} is empty (0 bytes); save the notebook in Jupyter and hand it in again")
    if size > MAX_NOTEBOOK_BYTES:
        raise SubmissionRejected(
            f"{name} is {size >> 20} MiB, over the {MAX_NOTEBOOK_BYTES >> 20} MiB limit; clear all outputs and save"
        )
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise SubmissionRejected(f"{name} is not a text file; hand in the .ipynb saved by Jupyter") from None
    except json.JSONDecodeError as error:
        raise SubmissionRejected(
            f"{name} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "it may have been edited by hand or merged badly: re-save it from Jupyter"
        ) from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise SubmissionRejected(f"{name} is JSON but not a Jupyter notebook (no cells); hand in the .ipynb file")
    major = data.get("nbformat")
    if major != 4:
        raise SubmissionRejected(
            f"{name} is in notebook format {major}, which is not supported; open it in a current Jupyter "
            "and save it again (or run: jupyter nbconvert --to notebook --nbformat 4)"
        )
    refuse_other_languages(data, name)
    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as error:  # noqa: BLE001 - nbformat raises many types on malformed input
        raise SubmissionRejected(f"{name} could not be read as a notebook: {str(error)[:300]}") from None
    for cell in notebook.cells:
        if not isinstance(cell.get("source"), str):
            raise SubmissionRejected(f"{name} has a malformed cell; re-save it from Jupyter")
        if cell.cell_type == "code":
            cell.outputs = []  # stored outputs are the student's, never trusted, never shown as results
            cell.execution_count = None
    return notebook


def refuse_other_languages(data: dict, name: str) -> None:
    """A notebook saved for another language's kernel (Julia, R...) is refused, never run as Python.

    Its language is the kernelspec's, else language_info's; a notebook that names neither is
    taken for Python (the course's kernel), as Jupyter does."""
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    spec = metadata.get("kernelspec") if isinstance(metadata.get("kernelspec"), dict) else {}
    info = metadata.get("language_info") if isinstance(metadata.get("language_info"), dict) else {}
    language = spec.get("language") or info.get("name")
    if not isinstance(language, str) or language.strip().lower() == COURSE_LANGUAGE:
        return
    kernel = _printable(spec.get("name")) or "a"
    shown = _printable(spec.get("display_name")) or _printable(language)
    raise SubmissionRejected(
        f"{name} runs the {kernel} kernel ({shown}); the course grades Python notebooks: write the answers in "
        "Python, choose Kernel > Change kernel > Python 3 in Jupyter, and save the notebook again")


def _printable(value: object, limit: int = 60) -> str:
    """A hostile metadata string, short and on one line (reports escape it again)."""
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c.isprintable()).strip()[:limit]


def package_notebook(package: Path) -> nbformat.NotebookNode:
    """A package submission as a one-cell notebook that imports every module into the namespace."""
    folder = package if package.is_dir() else package.parent
    files = [package.name] if package.is_file() else sorted(p.name for p in package.glob("*.py"))
    if not files:
        raise SubmissionRejected(f"{package.name}/ holds no Python modules (.py files)")
    source = (
        "import importlib.util as _u, sys as _s\n"
        f"_s.path.insert(0, {str(folder)!r})\n"
        f"for _f in {files!r}:\n"
        f"    _spec = _u.spec_from_file_location(_f[:-3].replace('.', '_'), {str(folder)!r} + '/' + _f)\n"
        "    _m = _u.module_from_spec(_spec); _s.modules[_spec.name] = _m; _spec.loader.exec_module(_m)\n"
        "    globals().update({k: v for k, v in vars(_m).items() if not k.startswith('_')})\n"
    )
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
