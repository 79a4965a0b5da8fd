"""Pairs of students whose own code is alike: winnowed k-gram fingerprints (copydetect) of
normalised tokens, with the course's scaffold taken out.

Each document is normalised (grader/similarity/normalize.py) and every distinct token
becomes one id, so copydetect's k-grams are k-grams of tokens. Code
cells the student left as released are dropped, and every k-gram that occurs in the
starter notebook or in the reference solution is removed from the fingerprints, so the
scaffold everyone got, and code that merely matches the solution, count for nobody.

The score of a pair (symmetric, 0..1): the share of both students' own code, counted in
fingerprinted tokens, that lies in regions the two have in common:

    score = (matched_a + matched_b) / (own_a + own_b)

(copydetect's per-side similarities, weighted by the size of each side). 1 means all of
both students' own code matches the other's; a student who copied a little into a large
original notebook scores low, one who copied all of it and added nothing scores high.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import get_document_fingerprints, get_token_coverage, hashed_kgrams

from grader.similarity.normalize import Token, normalize
from grader.similarity.sources import Document

K = 16  # tokens per k-gram (`V = V . V ( V , V ) ;` is 12): shorter common runs are idioms, not copying
WINDOW = 5  # winnowing window: any common run of K + WINDOW - 1 = 20 tokens (about a line) is always found


@dataclass(frozen=True)
class Region:
    """Matching code in one student's cell: characters [start, end) of its source."""

    cell: int  # index among the document's code cells
    start: int
    end: int


@dataclass(frozen=True)
class Pair:
    a: str  # a < b, except that a current student comes before an archived one
    b: str
    score: float
    a_regions: tuple[Region, ...] = ()
    b_regions: tuple[Region, ...] = ()


class TokenFingerprint(CodeFingerprint):
    """copydetect's fingerprint of a document given as token ids rather than read from a file.

    The attributes are CodeFingerprint's (what compare_files reads), computed with copydetect's
    own functions. Why not CodeFingerprint(fp=...): it hashes k-grams of a string with Python's
    `hash`, which is salted per process, so the same class would score a little differently on
    every run; k-grams of a tuple of ints hash the same way every time. And its boilerplate
    removal intersects with assume_unique=True, which also drops one place of any k-gram a
    student writes twice, so it is done here.
    """

    def __init__(self, name: str, ids: tuple[int, ...], boilerplate: frozenset[int]) -> None:  # noqa: D107
        hashes, hash_idx = get_document_fingerprints(ids, K, WINDOW)  # type: ignore[arg-type]
        self.filename = name
        self.raw_code = self.filtered_code = ids
        self.offsets = np.array([])
        self.hash_idx = {h: i for h, i in hash_idx.items() if int(h) not in boilerplate}
        self.hashes = set(self.hash_idx)
        self.k = K
        self.token_coverage = get_token_coverage(self.hash_idx, K, len(ids))


@dataclass
class Fingerprinted:
    document: Document
    tokens: list[Token | None]  # the own tokens (cells left as released are gone), one per fingerprinted id
    fingerprint: TokenFingerprint
    own_cells: tuple[int, ...]  # the cells that hold own code, in order


class Fingerprinter:
    """Fingerprints documents against one assignment's scaffold (starter and reference cells)."""

    def __init__(self, *scaffolds: Sequence[str]) -> None:
        self._ids: dict[str, int] = {}
        self._separators = 0
        self._scaffold_cells: set[tuple[str, ...]] = set()
        self._scaffold_sources = {source for cells in scaffolds for source in cells}
        boilerplate: set[int] = set()
        for cells in scaffolds:
            tokens = normalize(list(cells))
            for cell in range(len(cells)):
                self._scaffold_cells.add(tuple(t.text for t in tokens if t.cell == cell))
            boilerplate.update(int(h) for h in hashed_kgrams(self._encode(tokens)[0], K))
        self._boilerplate = frozenset(boilerplate)

    def _encode(self, tokens: list[Token], *, separate_cells: bool = False) -> tuple[tuple[int, ...], list[Token | None]]:
        """One id per distinct token (the same ids for every document of this Fingerprinter).

        With `separate_cells`, the last token of each cell is followed by an id no other
        document has, so that no k-gram across two cells matches: cells move freely in a notebook.
        Returns the ids and, for each, the token it stands for (None: a separator).
        """
        ids, code = self._ids, []
        aligned: list[Token | None] = []
        for index, token in enumerate(tokens):
            code.append(ids.setdefault(token.text, len(ids)))
            aligned.append(token)
            if separate_cells and index + 1 < len(tokens) and tokens[index + 1].cell != token.cell:
                self._separators += 1
                code.append(-self._separators)
                aligned.append(None)
        return tuple(code), aligned

    def fingerprint(self, document: Document) -> Fingerprinted:
        as_released = {index for index, source in enumerate(document.cells) if source in self._scaffold_sources}
        tokens = normalize(list(document.cells), skip=as_released)  # those cells drop out below anyway
        by_cell: dict[int, list[Token]] = {}
        for token in tokens:
            by_cell.setdefault(token.cell, []).append(token)
        own_cells = tuple(cell for cell, cell_tokens in by_cell.items()
                          if tuple(t.text for t in cell_tokens) not in self._scaffold_cells)
        own = [token for cell in own_cells for token in by_cell[cell]]
        code, aligned = self._encode(own, separate_cells=True)
        return Fingerprinted(document, aligned, TokenFingerprint(document.student, code, self._boilerplate), own_cells)


def compare(first: Fingerprinted, second: Fingerprinted, *, regions: bool = False) -> Pair:
    """The pair's score (see the module's docstring); with `regions`, where each side matches."""
    a, b = sorted((first, second), key=lambda f: (f.document.archived, f.document.student))
    if not a.fingerprint.hashes & b.fingerprint.hashes:
        return Pair(a.document.student, b.document.student, 0.0)
    _, (similarity_a, similarity_b), (slices_a, slices_b) = compare_files(a.fingerprint, b.fingerprint)
    own_a, own_b = a.fingerprint.token_coverage, b.fingerprint.token_coverage
    matched = similarity_a * own_a + similarity_b * own_b  # copydetect's shares, back in tokens
    score = min(1.0, float(matched / (own_a + own_b))) if own_a + own_b else 0.0
    if not regions:
        return Pair(a.document.student, b.document.student, score)
    return Pair(a.document.student, b.document.student, score, _regions(a.tokens, slices_a),
                _regions(b.tokens, slices_b))


def _regions(tokens: list[Token | None], slices: np.ndarray) -> tuple[Region, ...]:
    """Token slices [start, end) as character regions, one per cell a slice crosses."""
    found: list[Region] = []
    for start, end in zip(*(np.asarray(s, dtype=int) for s in slices)):
        for token in tokens[start:end]:  # consecutive tokens of one cell are one stretch of its source
            if token is None:
                continue
            last = found[-1] if found else None
            if last is not None and last.cell == token.cell and last.start <= token.start:
                found[-1] = Region(last.cell, last.start, max(last.end, token.end))
            else:
                found.append(Region(token.cell, token.start, token.end))
        found.append(Region(-1, 0, 0))  # the next slice starts a region of its own
    return tuple(_merged(found))


def _merged(regions: list[Region]) -> list[Region]:
    merged: list[Region] = []
    for region in sorted((r for r in regions if r.cell >= 0 and r.end > r.start), key=lambda r: (r.cell, r.start)):
        if merged and merged[-1].cell == region.cell and region.start <= merged[-1].end:
            merged[-1] = Region(region.cell, merged[-1].start, max(merged[-1].end, region.end))
        else:
            merged.append(region)
    return merged


def compare_class(current: Sequence[Fingerprinted], archived: Sequence[Fingerprinted] = (),
                  advance: Callable[[], None] = lambda: None) -> list[Pair]:
    """Every pair of current students, and each current student with each archived one (never two
    archived ones), highest score first, ties by names."""
    pairs = []
    for index, first in enumerate(current):
        for second in [*current[index + 1:], *archived]:
            pairs.append(compare(first, second))
        advance()
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def pair_count(current: int, archived: int) -> int:
    return current * (current - 1) // 2 + current * archived
