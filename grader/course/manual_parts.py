"""A rubric's `manual:` parts: written answers a TA grades with rubric items (Gradescope style).

    - name: "Why scale by sqrt(d_k)?"
      manual:
        answer: why_scale            # a written-answer cell's id; the homework: a file such as REPORT.md
        items:
          - {id: variance, points: 2, description: "Dot products of d_k-dim vectors have variance d_k"}
          - {id: no_units, points: -1, description: "..."}   # negative: a deduction
        comments: ["See the lecture's variance argument."]

A manual part has no `tests:`. Its maximum is the sum of its positive items; its score is
clamp(applied items + adjustment, 0, maximum) (grader.models.ManualPart). Every mistake is a
RubricError naming the rubric and the part, so `grade validate` and `grade PATH` stop on it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Sequence

from grader.errors import RubricError
from grader.models import ManualPart, RubricItem

ITEM_ID = re.compile(r"[a-z0-9_]+")
# A cell id (why_scale) or a file at the submission's root (REPORT.md): no folders, no dot-files.
ANSWER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
EXAMPLE = ("manual: {answer: why_scale, items: [{id: variance, points: 2, description: "
           "\"Dot products have variance d_k\"}]}")


def manual_part(path: Path, part: dict[str, Any], earlier: Sequence[ManualPart]) -> ManualPart:
    """One `manual:` part of rubric `path`, checked; `earlier` are the rubric's manual parts before it."""
    name = part.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RubricError(f"rubric {path}: a manual part needs a `name:` (shown to TAs and students)")
    where = f"rubric {path}: manual part {name!r}"
    if "tests" in part:
        raise RubricError(f"{where} has `tests:`; a part is graded either by tests or by hand: move the tests "
                          "to a part of their own")
    spec = part["manual"]
    if not isinstance(spec, dict):
        raise RubricError(f"{where}: `manual` must be a mapping, e.g. {EXAMPLE}")
    unknown = sorted(set(spec) - {"answer", "items", "comments"})
    if unknown:
        raise RubricError(f"{where}: unknown key(s) {', '.join(unknown)} under `manual`; "
                          "it takes answer, items and comments")
    answer = spec.get("answer")
    if not isinstance(answer, str) or not ANSWER.fullmatch(answer) or ".." in answer:
        raise RubricError(f"{where}: `answer` must name the written-answer cell's id (e.g. why_scale) or a "
                          f"file at the submission's root (e.g. REPORT.md), not {answer!r}")
    if any(other.answer == answer for other in earlier):
        raise RubricError(f"{where}: answer {answer!r} is graded by another manual part already; "
                          "give each written answer one part")
    items = _items(where, spec.get("items"))
    comments = spec.get("comments") or []
    if not isinstance(comments, list) or not all(isinstance(c, str) and c.strip() for c in comments):
        raise RubricError(f"{where}: `comments` must be a list of comment texts, not {comments!r}")
    made = ManualPart(name=name.strip(), answer=answer, items=items, comments=tuple(comments))
    if made.max_points <= 0:
        raise RubricError(f"{where}: no item earns points (the part would be worth 0); give at least one "
                          "item positive points")
    return made


def _items(where: str, items: Any) -> tuple[RubricItem, ...]:
    if not isinstance(items, list) or not items:
        raise RubricError(f"{where}: `items` must list the rubric items a TA applies, e.g. {EXAMPLE}")
    made: list[RubricItem] = []
    for entry in items:
        if not isinstance(entry, dict):
            raise RubricError(f"{where}: each item needs id, points and description, not {entry!r}")
        item_id, points, description = entry.get("id"), entry.get("points"), entry.get("description")
        if not isinstance(item_id, str) or not ITEM_ID.fullmatch(item_id):
            raise RubricError(f"{where}: item id {item_id!r} must be lower-case letters, digits and _ "
                              "(e.g. variance)")
        if any(item.id == item_id for item in made):
            raise RubricError(f"{where}: item {item_id} is listed twice")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or not math.isfinite(points):
            raise RubricError(f"{where}: item {item_id} needs a number of `points` (negative for a deduction), "
                              f"not {points!r}")
        if not isinstance(description, str) or not description.strip():
            raise RubricError(f"{where}: item {item_id} needs a `description` (what the TA looks for)")
        unknown = sorted(set(entry) - {"id", "points", "description"})
        if unknown:
            raise RubricError(f"{where}: item {item_id} has unknown key(s) {', '.join(unknown)}")
        made.append(RubricItem(id=item_id, points=float(points), description=description.strip()))
    return tuple(made)
