"""GET /history: the audit trail, every change to a grade (manual grades, regrades,
overrides, claims), newest first: who, when, before, after, why. Filterable by student and
assignment (exact names, as query parameters); at most LIMIT rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from grader.reports.text import student_page, timestamp
from grader.web.queue import grading_href
from grader.web.rendering import render_template
from grader.web.state import web_state

LIMIT = 200


@dataclass(frozen=True)
class EventRow:
    at: str
    actor: str
    kind: str
    student: str
    student_href: str
    assignment: str
    part: str
    part_href: str
    before: tuple[tuple[str, str], ...]
    after: tuple[tuple[str, str], ...]
    reason: str


@dataclass(frozen=True)
class HistoryContext:
    page_title: str
    stylesheet: str
    student: str
    assignment: str
    kind: str
    kinds: tuple[str, ...]
    rows: tuple[EventRow, ...]
    limit: int


KINDS = ("manual", "regrade", "override", "claim")


async def history_page(request: Request) -> Response:
    web = web_state(request)
    student = request.query_params.get("student", "").strip()[:200]
    assignment = request.query_params.get("assignment", "").strip()[:200]
    kind = request.query_params.get("kind", "").strip()
    events = await run_in_threadpool(lambda: web.book.events(student=student or None, assignment=assignment or None,
                                                             limit=LIMIT))
    rows = tuple(_row(e) for e in events if not kind or e.kind == kind)
    context = HistoryContext(page_title="History · grade", stylesheet="/static/style.css", student=student,
                             assignment=assignment, kind=kind if kind in KINDS else "", kinds=KINDS, rows=rows,
                             limit=LIMIT)
    return HTMLResponse(render_template(web.env, "history.html", context, request.state.visitor))


def _row(event: Any) -> EventRow:
    return EventRow(at=timestamp(event.at), actor=event.actor, kind=event.kind, student=event.student,
                    student_href="/" + student_page(event.student), assignment=event.assignment,
                    part=event.part or "",
                    part_href=grading_href(event.assignment, event.part, event.student) if event.part else "",
                    before=_pairs(event.before), after=_pairs(event.after), reason=event.reason)


def _pairs(state: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """A before/after snapshot as (field, value) lines; lists joined, None shown as "-"."""
    if not state:
        return ()
    shown = []
    for name, value in state.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value) or "none"
        shown.append((str(name), "-" if value is None else str(value)))
    return tuple(shown)
