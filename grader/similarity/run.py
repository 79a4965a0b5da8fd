"""One similarity check of a class: read, fingerprint, compare; the result as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.course.assignments import Assignment, Course
from grader.similarity.compare import Fingerprinter, Pair, compare, compare_class
from grader.similarity.sources import Document, Skipped, Track, no_progress, read_class, scaffold

DEFAULT_THRESHOLD = 0.5  # the test class: copies score 0.91 and more, work done alone 0.43 at most (README)
MAX_SHOWN_PAIRS = 200  # the flagged pairs a page shows side by side, the highest first


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
    flagged: tuple[Pair, ...]  # the pairs at or above the threshold; the first `shown` with their regions
    shown: int
    code: dict[str, OwnCode]  # the students of those first `shown` flagged pairs
    students: int  # current students compared
    archived: int  # archived submissions compared with them
    skipped: tuple[Skipped, ...]


def find_similar(root: Path, assignment: Assignment, course: Course, *, threshold: float = DEFAULT_THRESHOLD,
                 archives: Sequence[Path] = (), shown: int = MAX_SHOWN_PAIRS,
                 track: Track = no_progress) -> Similarity:
    """Compare every current student of `root` with every other, and with every archived submission.

    The `shown` highest flagged pairs get their matching regions and code (for the page)."""
    fingerprinter = Fingerprinter(*scaffold(assignment))
    current, skipped = read_class(root, assignment, course, track=track)
    archived: list[Document] = []
    labels: set[str] = set()
    for folder in archives:
        label = folder.resolve().name or "archive"
        label = label if label not in labels else f"{label}~{len(labels) + 1}"  # two archives named alike
        labels.add(label)
        documents, left_out = read_class(folder, assignment, course, archive=label, track=track)
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
    flagged = [p for p in pairs if p.score >= threshold]
    flagged[:shown] = [compare(by_student[p.a], by_student[p.b], regions=True) for p in flagged[:shown]]
    code = {name: OwnCode(by_student[name].document, by_student[name].own_cells)
            for pair in flagged[:shown] for name in (pair.a, pair.b)}
    return Similarity(assignment.name, threshold, tuple(pairs), tuple(flagged), min(shown, len(flagged)), code, len(current), len(archived),
                      tuple(skipped))


def pairs_json(pairs: Sequence[Pair]) -> str:
    """`[{"a": student, "b": student, "score": 0..1}, ...]` in the given order (highest score first)."""
    return json.dumps([{"a": p.a, "b": p.b, "score": round(p.score, 4)} for p in pairs], indent=1)
