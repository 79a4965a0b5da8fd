"""One similarity check of a class: read, fingerprint, compare; the result as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.course.assignments import Assignment, Course
from grader.similarity.compare import Fingerprinter, Pair, compare, compare_class
from grader.similarity.sources import Document, Skipped, read_class, scaffold

DEFAULT_THRESHOLD = 0.5  # the copied pairs of the test class score 0.9 and more, work done alone 0.45 at most
Track = Callable[[str, int], Callable[[], None]]  # (what, how many) -> advance by one


def _no_progress(what: str, total: int) -> Callable[[], None]:
    return lambda: None


@dataclass(frozen=True)
class OwnCode:
    """What the page shows of a student: the code cells that hold their own code."""

    document: Document
    cells: tuple[int, ...]  # indexes into document.cells


@dataclass(frozen=True)
class Similarity:
    """Every compared pair of one assignment, highest score first, and the submissions left out."""

    assignment: str
    threshold: float
    pairs: tuple[Pair, ...]  # every pair, without regions
    flagged: tuple[Pair, ...]  # the pairs at or above the threshold, with their matching regions
    code: dict[str, OwnCode]  # the students of the flagged pairs
    students: int  # current students compared
    archived: int  # archived submissions compared with them
    skipped: tuple[Skipped, ...]


def find_similar(root: Path, assignment: Assignment, course: Course, *, threshold: float = DEFAULT_THRESHOLD,
                 archives: Sequence[Path] = (), track: Track = _no_progress) -> Similarity:
    """Compare every current student of `root` with every other, and with every archived submission."""
    fingerprinter = Fingerprinter(*scaffold(assignment))
    current, skipped = _read(root, assignment, course, None, track)
    archived: list[Document] = []
    for folder in archives:
        documents, left_out = _read(folder, assignment, course, folder.name or str(folder), track)
        archived += documents
        skipped += left_out
    advance = track("fingerprinting", len(current) + len(archived))
    fingerprints = []
    for document in [*current, *archived]:
        fingerprints.append(fingerprinter.fingerprint(document))
        advance()
    ours, theirs = fingerprints[: len(current)], fingerprints[len(current):]
    pairs = compare_class(ours, theirs, advance=track("comparing", len(ours)))
    by_student = {f.document.student: f for f in fingerprints}
    flagged = tuple(compare(by_student[p.a], by_student[p.b], regions=True) for p in pairs if p.score >= threshold)
    code = {name: OwnCode(by_student[name].document, by_student[name].own_cells)
            for pair in flagged for name in (pair.a, pair.b)}
    return Similarity(assignment.name, threshold, tuple(pairs), flagged, code, len(current), len(archived),
                      tuple(skipped))


def _read(root: Path, assignment: Assignment, course: Course, archive: str | None,
          track: Track) -> tuple[list[Document], list[Skipped]]:
    from grader.discover import student_folders

    total = len(student_folders(root))
    what = "reading submissions" if archive is None else f"reading the archive {archive}"
    return read_class(root, assignment, course, archive=archive, advance=track(what, total))


def pairs_json(pairs: Sequence[Pair]) -> str:
    """`[{"a": student, "b": student, "score": 0..1}, ...]` in the given order (highest score first)."""
    return json.dumps([{"a": p.a, "b": p.b, "score": round(p.score, 4)} for p in pairs], indent=1)
