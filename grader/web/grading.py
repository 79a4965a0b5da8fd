"""GET and POST /grading/<assignment>/<part>/<student>: one written answer, graded.

GET shows the answer (markdown, made inert by grader.web.markdown) beside the rubric's items,
the adjustment, the comment and its templates, the grade as saved and its version (a hidden
field), and claims the answer for the visitor ("who is grading what" on the queue).

POST saves on top of the version the form was based on (compare-and-set in the store). When
another TA saved in between, nothing is written: the page comes back (409) with their grade
beside the visitor's own unsaved choice, and the form now based on their version, so the
next save is a deliberate one on top of it. Changing a saved grade is a regrade and needs a
reason (the store refuses one without).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from grader.errors import GradeError
from grader.reports.text import points, student_page, timestamp
from grader.store.manual import CLAIM_TTL, MAX_COMMENT, ManualGradeConflict
from grader.web.csrf import Form
from grader.web.markdown import render_answer
from grader.web.queue import grading_href
from grader.web.rendering import render_template
from grader.web.state import WebState, web_state

SHORTCUT_KEYS = "123456789"


@dataclass(frozen=True)
class ItemRow:
    id: str
    points: str  # "+2", "-1"
    description: str
    key: str  # the keyboard shortcut, "" past the ninth item
    checked: bool  # in the form (the visitor's choice)
    theirs: bool  # in the other TA's saved grade (conflicts only)
    value: float


@dataclass(frozen=True)
class SavedView:
    """A saved grade as the page shows it."""

    points: str
    max_points: str
    by: str
    at: str
    version: int
    items: tuple[str, ...]  # "+2 description" per applied item
    adjustment: str
    comment: str


@dataclass(frozen=True)
class Choice:
    """What the form holds: the saved grade, or what the visitor sent when it could not be saved."""

    items: frozenset[str]
    adjustment: str
    comment: str
    reason: str


@dataclass(frozen=True)
class GradingContext:
    page_title: str
    stylesheet: str
    assignment: str
    part: str
    part_name: str
    student: str
    student_href: str
    history_href: str
    action: str
    answer: Markup | None  # None: no answer handed in
    stale: bool  # graded, but the student handed in another answer since
    items: tuple[ItemRow, ...]
    max_points: str
    comments: tuple[str, ...]
    max_comment: int  # the store's limit (a longer one is refused with a message, never cut)
    choice: Choice
    version: int  # the version the form saves on top of (0: not graded yet)
    saved: SavedView | None
    conflict: SavedView | None  # another TA's grade saved since the form was loaded
    notice: str
    error: str
    others: str  # another TA who opened this answer lately
    position: str
    prev_href: str
    next_href: str
    queue_href: str
    part_href: str


async def grading_page(request: Request) -> Response:
    web = web_state(request)
    key = _key(request)
    me = request.state.visitor.user.name
    found = await run_in_threadpool(_load, web, *key, me, True)
    if found is None:
        return _not_found()
    saved = request.query_params.get("saved")
    notice = {"1": "Saved.", "previous": "Saved the previous student's grade."}.get(saved or "", "")
    return _render(request, key, found, notice=notice)


async def grading_save(request: Request, form: Form) -> Response:
    web = web_state(request)
    key = _key(request)
    assignment, part, student = key
    me = request.state.visitor.user.name
    found = await run_in_threadpool(_load, web, *key, me, False)
    if found is None:
        return _not_found()
    rubric_part = found["rubric"]
    known = [item.id for item in rubric_part.items]
    choice = Choice(items=frozenset(i for i in known if form.get(f"item_{i}")),
                    adjustment=form.get("adjustment", "0").strip() or "0",
                    comment=form.get("comment", ""), reason=form.get("reason", "").strip())
    try:
        version = int(form.get("version", ""))
        adjustment = float(choice.adjustment)
        if not math.isfinite(adjustment):
            raise ValueError(choice.adjustment)
    except ValueError:
        return _render(request, key, found, choice=choice, status=400,
                       error="the form is damaged (version or adjustment is not a number); reload the page")
    try:
        await run_in_threadpool(
            lambda: web.book.manual.save(student, assignment, part, items=tuple(i for i in known if i in choice.items),
                                         adjustment=adjustment, comment=choice.comment, by=me,
                                         expected_version=version, reason=choice.reason))
    except ManualGradeConflict as conflict:
        if conflict.current is None:  # the grade it was based on is gone: start from nothing again
            return _render(request, key, dict(found, grade=None), choice=choice, status=409,
                           error="the grade this form was based on is gone; check your choice and save again")
        return _render(request, key, dict(found, grade=conflict.current), choice=choice, status=409,
                       conflict=conflict.current)
    except GradeError as error:
        return _render(request, key, found, choice=choice, status=400, error=str(error))
    if form.get("then") == "next" and found["next"]:
        return RedirectResponse(f"{found['next']}?saved=previous", status_code=303)
    return RedirectResponse(f"{grading_href(*key)}?saved=1", status_code=303)


def _key(request: Request) -> tuple[str, str, str]:
    params = request.path_params
    return params["assignment"], params["part"], params["student"]


def _load(web: WebState, assignment: str, part: str, student: str, me: str, claim: bool) -> dict[str, Any] | None:
    """Everything the page shows, read in one thread hop; None when the gradebook has no such answer."""
    result = web.book.manual.result(student, assignment, part)
    if result is None:
        return None
    students = web.queues.students(assignment, part, student)
    index = students.index(student) if student in students else 0
    holder = _holder(web, student, assignment, part, me)  # before our own claim replaces theirs
    if claim:
        web.book.manual.claim(student, assignment, part, me)
    return {
        "grade": result.grade,
        "answer": result.answer,
        "rubric": result.part,  # the part as the rubric had it when this submission was graded
        "stale": result.stale,
        "position": f"{index + 1} of {len(students)}",
        "prev": grading_href(assignment, part, students[index - 1]) if index > 0 else "",
        "next": grading_href(assignment, part, students[index + 1]) if index + 1 < len(students) else "",
        "others": holder,
    }


def _holder(web: WebState, student: str, assignment: str, part: str, me: str) -> str:
    """"tara opened this answer at ...": another TA who claimed it within the claim's life, or ""."""
    claims = [e for e in web.book.events(student=student, assignment=assignment, limit=200)
              if e.kind == "claim" and e.part == part]
    if not claims or claims[0].actor == me or claims[0].at < datetime.now(timezone.utc) - CLAIM_TTL:
        return ""
    return f"{claims[0].actor} opened this answer at {timestamp(claims[0].at)}"


def _render(request: Request, key: tuple[str, str, str], found: dict[str, Any], *, choice: Choice | None = None,
            conflict: Any = None, notice: str = "", error: str = "", status: int = 200) -> Response:
    web = web_state(request)
    assignment, part, student = key
    grade, rubric_part = found["grade"], found["rubric"]
    if choice is None:
        choice = (Choice(items=frozenset(grade.items), adjustment=points(grade.adjustment), comment=grade.comment,
                         reason="") if grade is not None else Choice(frozenset(), "0", "", ""))
    rubric_items = tuple(rubric_part.items)
    theirs = frozenset(conflict.items) if conflict is not None else frozenset()
    items = tuple(ItemRow(id=item.id, points=f"{item.points:+g}", description=item.description,
                          key=SHORTCUT_KEYS[i] if i < len(SHORTCUT_KEYS) else "", checked=item.id in choice.items,
                          theirs=item.id in theirs, value=float(item.points))
                  for i, item in enumerate(rubric_items))
    max_points = points(rubric_part.max_points)
    context = GradingContext(
        page_title=f"{student} · {rubric_part.name} · {assignment}", stylesheet="/static/style.css",
        assignment=assignment, part=part, part_name=rubric_part.name, student=student,
        student_href="/" + student_page(student),
        history_href=f"/history?student={_q(student)}&assignment={_q(assignment)}", action=grading_href(*key),
        answer=render_answer(found["answer"]) if found["answer"] is not None else None,
        items=items, max_points=max_points, comments=tuple(rubric_part.comments), max_comment=MAX_COMMENT,
        choice=choice,
        version=grade.version if grade is not None else 0,
        saved=_view(grade, max_points) if grade is not None and conflict is None else None,
        conflict=_view(conflict, max_points) if conflict is not None else None,
        stale=found["stale"], notice=notice, error=error, others=found["others"], position=found["position"], prev_href=found["prev"],
        next_href=found["next"], queue_href="/grading", part_href=grading_href(assignment, part))
    return HTMLResponse(render_template(web.env, "grading.html", context, request.state.visitor), status_code=status)


def _view(grade: Any, max_points: str) -> SavedView:
    # The items as they were when saved (their points and text then), not as the rubric has them now.
    applied = tuple(f"{item.points:+g} {item.description}" for item in grade.applied) or grade.items
    return SavedView(points=points(grade.points), max_points=max_points, by=grade.graded_by,
                     at=timestamp(grade.graded_at), version=grade.version, items=applied,
                     adjustment=f"{grade.adjustment:+g}" if grade.adjustment else "", comment=grade.comment)


def _q(text: str) -> str:
    return quote(text, safe="")


def _not_found() -> Response:
    return PlainTextResponse("404: no such student or manual part in this gradebook\n", status_code=404)
