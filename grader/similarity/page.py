"""The similarity page: the flagged pairs, each with both students' own code side by side and
the matching regions marked.

Rendered with the reports' Jinja environment (autoescape, strict) and their base template
(no script may run: CSP); every string here is a student's and is only ever escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from grader.reports.text import clean, timestamp
from grader.reports.write import environment, stylesheet
from grader.similarity.compare import K, Pair, Region
from grader.similarity.run import OwnCode, Similarity
from grader.similarity.sources import Skipped

MAX_SHOWN_CHARS = 200_000  # of one student's code on the page; the rest is cut with a note
NOTICE = ("A high score is a reason for a person to read the two students' code, never a penalty by itself: "
          "students may have worked together as allowed, used the same source, or written the obvious code.")


@dataclass(frozen=True)
class Segment:
    text: str
    marked: bool


@dataclass(frozen=True)
class CellView:
    number: int  # 1-based, among the code cells
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class SideView:
    student: str
    cells: tuple[CellView, ...]
    cut: bool  # the code was longer than the page shows


@dataclass(frozen=True)
class PairView:
    anchor: str
    score: str
    a: SideView
    b: SideView


@dataclass(frozen=True)
class SimilarityContext:
    page_title: str
    stylesheet: str
    generated_at: str
    notice: str
    method: str
    threshold: str
    students: int
    archived: int
    compared: int  # pairs
    flagged: tuple[PairView, ...]
    hidden: int  # flagged pairs beyond the highest few, not on the page (run.MAX_SHOWN_PAIRS)
    skipped: tuple[Skipped, ...]


def similarity_context(similarity: Similarity, *, title: str, stylesheet_href: str = "style.css",
                       generated_at: datetime | None = None) -> SimilarityContext:
    views = tuple(PairView(f"pair-{index}", f"{pair.score:.2f}", _side(similarity.code[pair.a], pair.a_regions),
                           _side(similarity.code[pair.b], pair.b_regions))
                  for index, pair in enumerate(similarity.flagged[:similarity.shown], 1))
    method = (f"Code cells only, with the cells left as released dropped; comments, docstrings and layout "
              f"ignored; every name a student chose counts as the same name. Fingerprints: runs of {K} tokens, "
              f"winnowed (copydetect); runs that occur in the released notebook or in the reference solution "
              f"are left out. Score: the share of both students' own code that lies in common runs "
              f"(0 to 1).")
    return SimilarityContext(
        page_title=f"{title}: similarity, {similarity.assignment}",
        stylesheet=stylesheet_href,
        generated_at=timestamp(generated_at or datetime.now(timezone.utc)),
        notice=NOTICE,
        method=method,
        threshold=f"{similarity.threshold:.2f}",
        students=similarity.students,
        archived=similarity.archived,
        compared=len(similarity.pairs),
        flagged=views,
        hidden=len(similarity.flagged) - similarity.shown,
        skipped=tuple(Skipped(clean(s.student), clean(s.reason)) for s in similarity.skipped),
    )


def _side(code: OwnCode, regions: tuple[Region, ...]) -> SideView:
    cells, budget = [], MAX_SHOWN_CHARS
    for index in code.cells:
        source = code.document.cells[index]
        if budget <= 0:
            break
        shown = source[:budget]
        budget -= len(shown)
        marks = [r for r in regions if r.cell == index]
        cells.append(CellView(index + 1, _segments(shown, marks)))
    return SideView(clean(code.document.student), tuple(cells), budget <= 0)


def _segments(source: str, regions: list[Region]) -> tuple[Segment, ...]:
    segments, at = [], 0
    for region in sorted(regions, key=lambda r: r.start):
        start, end = max(region.start, at), min(region.end, len(source))
        if start >= end:
            continue
        if start > at:
            segments.append(Segment(clean(source[at:start]), False))
        segments.append(Segment(clean(source[start:end]), True))
        at = end
    if at < len(source):
        segments.append(Segment(clean(source[at:]), False))
    return tuple(segments)


def page_environment() -> jinja2.Environment:
    """The reports' settings; our template first, then the reports' (base.html)."""
    return environment(jinja2.ChoiceLoader([jinja2.PackageLoader("grader.similarity", "templates"),
                                            jinja2.PackageLoader("grader.reports", "templates")]))


def write_page(similarity: Similarity, out: Path, *, title: str) -> Path:
    """The page at `out`, its stylesheet beside it (style.css)."""
    context = similarity_context(similarity, title=title)
    html = page_environment().get_template("similarity.html").render(vars(context))
    out.parent.mkdir(parents=True, exist_ok=True)
    (out.parent / context.stylesheet).write_text(stylesheet(), encoding="utf-8")
    out.write_text(html, encoding="utf-8")
    return out


__all__ = ["NOTICE", "Pair", "SimilarityContext", "similarity_context", "write_page"]
