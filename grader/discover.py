"""Find submissions under a folder, safely: every name and byte in there is hostile.

Layout: `<root>/<student>/<assignment>.ipynb` (a notebook), `<root>/<student>/<assignment>.py`
or `<root>/<student>/<assignment>/` (a package of modules), or `<root>/<student>.zip`
holding the same. The folder or zip name is the student id. A symlink that leaves
the submission, a zip with `../` paths or one that inflates past the limits is
rejected here, before anything runs, as that student's result.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.course.assignments import Assignment, Course
from grader.models import StudentFolder, Submission, SubmissionKind

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_FILES = 2000
MAX_ZIP_RATIO = 200  # uncompressed / compressed, per member


def discover(root: Path, course: Course, only: set[str] | None = None) -> list[Submission]:
    """Every (student, assignment) under root; missing assignments included, flagged by kind."""
    submissions = []
    for folder in student_folders(root):
        for assignment in course.assignments.values():
            if only and assignment.name not in only:
                continue
            submissions.append(_find(folder, assignment, course))
    return submissions


def student_folders(root: Path) -> list[StudentFolder]:
    folders = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            folders.append(StudentFolder(_student_id(entry.name), path,
                                         "the submission is a symbolic link; hand in the files themselves"))
        elif entry.is_dir():
            folders.append(StudentFolder(entry.name, path, _folder_problem(path)))
        elif entry.name.endswith(".zip") and entry.is_file():
            folders.append(StudentFolder(entry.name[:-4], path, zip_problem(path)))
    return folders


def _student_id(name: str) -> str:
    return name[:-4] if name.endswith(".zip") else name


def _folder_problem(folder: Path) -> str:
    """A symlink pointing outside, too many or too large files: reject the whole folder."""
    count, total = 0, 0
    root = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                target = path.resolve()
                if not target.is_relative_to(root):
                    return (f"{path.relative_to(folder)} is a symbolic link to a file outside your submission; "
                            "replace it with the file itself")
                continue
            if stat.S_ISREG(info.st_mode):
                count += 1
                total += info.st_size
        if count > MAX_FILES or total > MAX_TOTAL_BYTES:
            return f"the submission holds more than {MAX_FILES} files or {MAX_TOTAL_BYTES >> 20} MiB; remove data and outputs"
    return ""


def zip_problem(path: Path) -> str:
    """Check a zip's directory before extracting: paths, links, sizes, ratios."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        return f"{path.name} is not a valid zip file ({error}); zip your folder again"
    if len(members) > MAX_FILES:
        return f"{path.name} holds more than {MAX_FILES} files"
    total = 0
    for member in members:
        name = PurePosixPath(member.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts:
            return f"{path.name} contains the unsafe path {member.filename!r}; zip the folder without ../ or absolute paths"
        if stat.S_ISLNK(member.external_attr >> 16):
            return f"{path.name} contains a symbolic link ({member.filename}); zip the files themselves"
        total += member.file_size
        if member.file_size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
            return f"{path.name} unpacks to more than {MAX_TOTAL_BYTES >> 20} MiB; is it a zip bomb?"
        if member.compress_size and member.file_size / member.compress_size > MAX_ZIP_RATIO and member.file_size > 1 << 20:
            return f"{path.name} compresses {member.filename} more than {MAX_ZIP_RATIO}:1; is it a zip bomb?"
    return ""


def extract_zip(path: Path, dest: Path) -> Path:
    """Extract with actual (not declared) sizes enforced; returns the folder holding the work."""
    written = 0
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            name = PurePosixPath(member.filename.replace("\\", "/"))
            if member.is_dir() or name.name.startswith("._") or "__MACOSX" in name.parts:
                continue
            target = dest.joinpath(*name.parts)
            if not target.resolve().is_relative_to(dest.resolve()):
                raise ValueError(f"unsafe path {member.filename!r} in {path.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, open(target, "xb") as out:
                while chunk := source.read(1 << 20):
                    written += len(chunk)
                    if written > MAX_TOTAL_BYTES:
                        raise ValueError(f"{path.name} unpacks to more than {MAX_TOTAL_BYTES >> 20} MiB")
                    out.write(chunk)
    entries = [e for e in dest.iterdir() if not e.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]  # a zip of the folder rather than of its contents
    return dest


def _find(folder: StudentFolder, assignment: Assignment, course: Course) -> Submission:
    if folder.problem:
        return Submission(folder.student, assignment.name, SubmissionKind.NOTEBOOK, folder.path, "", folder.problem)
    return assignment.kind.find(folder, assignment, course)


def find_notebook(folder: StudentFolder, assignment: Assignment, course: Course) -> Submission:
    """A notebook (or a package of modules) in a folder or zip, under its name or renamed."""
    name, notebook = assignment.name, assignment.notebook
    if folder.path.suffix == ".zip" and folder.path.is_file():
        kind = _kind_from_names(zip_stems(folder.path), name, notebook)
        problem = ""
        if kind is None:
            expected = {a.notebook for a in course.assignments.values()}
            match = match_renamed(zip_strays(folder.path, expected), assignment, course)
            if match is not None:
                kind, problem = SubmissionKind.NOTEBOOK, match[1]
        if kind is None:
            return missing(folder, assignment)
        return Submission(folder.student, name, kind, folder.path, hash_file(folder.path), problem)
    if (folder.path / notebook).is_file():
        path = folder.path / notebook
        return Submission(folder.student, name, SubmissionKind.NOTEBOOK, path, hash_file(path))
    for package in (folder.path / f"{name}.py", folder.path / name):
        if package.exists():
            return Submission(folder.student, name, SubmissionKind.PACKAGE, package, hash_tree(package))
    return _find_renamed(folder, assignment, course)


def missing(folder: StudentFolder, assignment: Assignment) -> Submission:
    """Nothing handed in for this assignment (no content hash, no problem)."""
    return Submission(folder.student, assignment.name, SubmissionKind.NOTEBOOK, folder.path, "", "")


def zip_stems(path: Path) -> set[str]:
    """Every file name and folder name inside a zip (checked by zip_problem first)."""
    names = _zip_names(path)
    return {PurePosixPath(n).parts[-1] for n in names} | {p for n in names for p in PurePosixPath(n).parts}


@dataclass(frozen=True)
class StrayNotebook:
    """A notebook in a submission under a name no assignment expects."""

    name: str  # its path inside the folder or zip, for messages
    claims: str | None  # the assignment its metadata names, if any


def _find_renamed(folder: StudentFolder, assignment: Assignment, course: Course) -> Submission:
    expected = {a.notebook for a in course.assignments.values()}
    paths = {p.name: p for p in sorted(folder.path.glob("*.ipynb"))
             if p.name not in expected and p.is_file() and not p.is_symlink()}
    strays = [StrayNotebook(name, notebook_assignment(path)) for name, path in paths.items()]
    match = match_renamed(strays, assignment, course)
    if match is None:
        return missing(folder, assignment)
    stray, problem = match
    path = paths[stray.name]
    return Submission(folder.student, assignment.name, SubmissionKind.NOTEBOOK, path, hash_file(path), problem)


def match_renamed(strays: list[StrayNotebook], assignment: Assignment,
                  course: Course) -> tuple[StrayNotebook, str] | None:
    """The stray notebook that is this assignment's, and the problem to report ("" if none).

    It is claimed by the assignment its metadata names (`metadata.grade.assignment`, which
    the released notebooks carry), or, failing that, rejected when its name is close to the
    expected one, so the student learns the right name.
    """
    for stray in strays:
        if stray.claims == assignment.name:
            return stray, ""
    stems = [Path(a.notebook).stem for a in course.assignments.values()]
    for stray in strays:
        if stray.claims in course.assignments:
            continue  # another assignment's notebook
        close = difflib.get_close_matches(PurePosixPath(stray.name).stem, stems, n=1, cutoff=0.6)
        if close and close[0] == Path(assignment.notebook).stem:
            return stray, (f"found {stray.name}, but this assignment must be handed in as {assignment.notebook}; "
                           "rename it (or keep the notebook metadata of the released notebook)")
    return None


def zip_strays(path: Path, expected: set[str]) -> list[StrayNotebook]:
    """The notebooks in a zip (already checked by zip_problem) whose names no assignment expects."""
    strays = []
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            name = PurePosixPath(member.filename.replace("\\", "/"))
            if (member.is_dir() or name.suffix != ".ipynb" or name.name in expected or name.name.startswith("._")
                    or "__MACOSX" in name.parts):
                continue
            claims = None
            if member.file_size <= MAX_FILE_BYTES:
                with archive.open(member) as handle:
                    claims = metadata_assignment(handle.read())
            strays.append(StrayNotebook(str(name), claims))
    return strays


def notebook_assignment(path: Path) -> str | None:
    """The assignment a notebook's metadata names, without trusting it to be valid JSON or small."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        return metadata_assignment(path.read_bytes())
    except OSError:
        return None


def metadata_assignment(raw: bytes) -> str | None:
    try:
        value = json.loads(raw).get("metadata", {}).get("grade", {}).get("assignment")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def is_missing(submission: Submission) -> bool:
    return not submission.content_hash and not submission.problem


def _kind_from_names(names: set[str], assignment: str, notebook: str) -> SubmissionKind | None:
    if notebook in names:
        return SubmissionKind.NOTEBOOK
    if f"{assignment}.py" in names or assignment in names:
        return SubmissionKind.PACKAGE
    return None


def _zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return [m.filename.replace("\\", "/").rstrip("/") for m in archive.infolist()]


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def hash_tree(path: Path) -> str:
    if path.is_file():
        return hash_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
        digest.update(str(file.relative_to(path)).encode() + b"\0" + hash_file(file).encode())
    return digest.hexdigest()
