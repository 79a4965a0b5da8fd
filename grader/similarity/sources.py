"""The code each student wrote for one assignment, read (never run) from a submissions folder.

Discovery (grader/discover.py) finds each submission and has already refused symlinks out,
unsafe zips and zip bombs; a zip is unpacked with its limits into a private temporary
folder; a notebook is parsed with prepare's limits. A submission that cannot be read is
skipped with a note for the page, never a crash: a broken notebook is not evidence of anything.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.course.assignments import Assignment, Course
from grader.discover import extract_zip, is_missing, student_folders
from grader.errors import SubmissionRejected
from grader.models import Submission, SubmissionKind
from grader.prepare import MAX_NOTEBOOK_BYTES, load_notebook, locate
from grader.students.strip import strip_solutions


@dataclass(frozen=True)
class Document:
    """One student's code cells (a package: one per module), in order."""

    student: str  # the id as the page shows it; an archived one is prefixed with its archive's name
    cells: tuple[str, ...]
    archived: bool = False


@dataclass(frozen=True)
class Skipped:
    """A submission left out of the comparison, and why (for the page)."""

    student: str
    reason: str


Track = Callable[[str, int], Callable[[], None]]  # a progress bar: (what, how many) -> advance by one


def no_progress(what: str, total: int) -> Callable[[], None]:
    return lambda: None


def read_class(root: Path, assignment: Assignment, course: Course, *, archive: str | None = None,
               track: Track = no_progress) -> tuple[list[Document], list[Skipped]]:
    """Every readable submission of `assignment` under `root`; `archive` names an earlier term's folder."""
    documents, skipped = [], []
    folders = student_folders(root)
    advance = track("reading submissions" if archive is None else f"reading the archive {archive}", len(folders))
    for folder in folders:
        label = folder.student if archive is None else f"{archive}/{folder.student}"
        if folder.problem:
            skipped.append(Skipped(label, folder.problem))
        else:
            submission = assignment.kind.find(folder, assignment, course)
            if not is_missing(submission):
                try:
                    cells = read_cells(submission, assignment.notebook)
                except SubmissionRejected as error:
                    skipped.append(Skipped(label, str(error)))
                else:
                    documents.append(Document(label, cells, archived=archive is not None))
        advance()
    return documents, skipped


def read_cells(submission: Submission, notebook_name: str) -> tuple[str, ...]:
    """The code cells of a submission; SubmissionRejected when it cannot be read safely."""
    if submission.problem:
        raise SubmissionRejected(submission.problem)
    if submission.kind is SubmissionKind.MODEL_FOLDER:
        raise SubmissionRejected("a saved model holds no code to compare")
    source = submission.source
    if source.suffix == ".zip" and source.is_file():
        with tempfile.TemporaryDirectory(prefix="grade-similarity-") as scratch:
            try:
                unpacked = extract_zip(source, Path(scratch))
            except (ValueError, OSError) as error:
                raise SubmissionRejected(f"the zip could not be unpacked safely: {error}") from None
            return _cells(locate(unpacked, submission.assignment, notebook_name, submission.kind), submission.kind,
                          notebook_name)
    return _cells(source, submission.kind, notebook_name)


def _cells(path: Path, kind: SubmissionKind, notebook_name: str) -> tuple[str, ...]:
    if path.is_symlink():
        raise SubmissionRejected(f"{path.name} is a symbolic link; hand in the file itself")
    if kind is SubmissionKind.PACKAGE:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*.py") if p.is_file() and not p.is_symlink())
        return tuple(_module_text(file) for file in files)
    try:
        notebook = load_notebook(path, notebook_name)
    except OSError as error:
        raise SubmissionRejected(f"{notebook_name} could not be read: {error.strerror}") from None
    return code_cells(notebook)


def _module_text(path: Path) -> str:
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise SubmissionRejected(f"{path.name} is over {MAX_NOTEBOOK_BYTES >> 20} MiB; hand in the source only")
    return path.read_bytes().decode("utf-8", errors="replace")


def code_cells(notebook: nbformat.NotebookNode) -> tuple[str, ...]:
    return tuple(cell.source for cell in notebook.cells if cell.get("cell_type") == "code")


def scaffold(assignment: Assignment) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(starter, reference) code cells: the released notebook as students got it, and the solution."""
    reference = nbformat.read(assignment.reference_notebook, as_version=4)
    return code_cells(strip_solutions(reference, assignment.name)), code_cells(reference)
