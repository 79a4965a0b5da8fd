"""GET /grading: what awaits manual grading, by assignment and part, and who is grading what;
GET /grading/<assignment>/<part>: that part's students, in the order n/p walks them.

Both read `gradebook.manual.queue()` (through queue_cache.QueueCache): one row per (student,
manual part) with its grade and claim. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from grader.reports.text import points, student_page, timestamp
from grader.web.rendering import render_template
from grader.web.state import web_state


def grading_href(assignment: str, part: str, student: str | None = None) -> str:
    path = f"/grading/{quote(assignment, safe='')}/{quote(part, safe='')}"
    return path if student is None else f"{path}/{quote(student, safe='')}"


@dataclass(frozen=True)
class PartRow:
    assignment: str
    part: str
    part_name: str
    graded: int
    answered: int
    total: int
    awaiting: int  # answered and not graded yet
    claims: tuple[tuple[str, str, str], ...]  # (TA, student, href): open claims on ungraded answers
    href: str  # the part's list
    next_href: str | None  # the first answered, ungraded, unclaimed student


@dataclass(frozen=True)
class QueueContext:
    page_title: str
    stylesheet: str
    assignment: str  # the filter, "" for all
    assignments: tuple[str, ...]
    parts: tuple[PartRow, ...]


@dataclass(frozen=True)
class StudentRow:
    student: str
    href: str
    status: str  # "graded", "awaiting", "no answer"
    css: str
    points: str
    graded_by: str
    claimed_by: str
    student_href: str


@dataclass(frozen=True)
class PartContext:
    page_title: str
    stylesheet: str
    assignment: str
    part: str
    part_name: str
    rows: tuple[StudentRow, ...]
    summary: str


async def queue_page(request: Request) -> Response:
    web = web_state(request)
    wanted = request.query_params.get("assignment", "").strip()
    entries = await run_in_threadpool(web.queues.current)
    assignments = tuple(sorted({e.assignment for e in entries}))
    me = request.state.visitor.user.name
    rows = tuple(_part_row(group, me) for group in by_part(e for e in entries if not wanted or e.assignment == wanted))
    context = QueueContext(page_title="Grading queue", stylesheet="/static/style.css", assignment=wanted,
                           assignments=assignments, parts=rows)
    return HTMLResponse(render_template(web.env, "queue.html", context, request.state.visitor))


async def part_page(request: Request) -> Response:
    web = web_state(request)
    assignment, part = request.path_params["assignment"], request.path_params["part"]
    entries = [e for e in await run_in_threadpool(web.queues.current) if e.assignment == assignment and e.part == part]
    if not entries:
        return PlainTextResponse("404: no such manual part in this gradebook\n", status_code=404)
    rows = tuple(_student_row(e) for e in ordered(entries))
    graded = sum(e.grade is not None and not e.stale for e in entries)
    context = PartContext(page_title=f"{entries[0].part_name} · {assignment}", stylesheet="/static/style.css",
                          assignment=assignment, part=part, part_name=entries[0].part_name, rows=rows,
                          summary=f"{graded} graded, {sum(e.has_answer for e in entries)} answered, "
                                  f"{len(entries)} students")
    return HTMLResponse(render_template(web.env, "part.html", context, request.state.visitor))


def by_part(entries: Iterable[Any]) -> list[list[Any]]:
    """The queue's rows grouped by (assignment, part), in the order the queue first lists each."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for entry in entries:
        groups.setdefault((entry.assignment, entry.part), []).append(entry)
    return list(groups.values())


def ordered(entries: list[Any]) -> list[Any]:
    """The queue's rows of one part sorted the way n/p walk them (by student)."""
    return sorted(entries, key=lambda e: e.student)


def _part_row(entries: list[Any], me: str) -> PartRow:
    first = entries[0]
    waiting = [e for e in entries if e.has_answer and (e.grade is None or e.stale)]  # stale: answer changed since
    free = [e for e in waiting if e.claimed_by in (None, me)]
    claims = tuple((e.claimed_by, e.student, grading_href(e.assignment, e.part, e.student))
                   for e in waiting if e.claimed_by)
    return PartRow(assignment=first.assignment, part=first.part, part_name=first.part_name,
                   graded=sum(e.grade is not None and not e.stale for e in entries), answered=sum(e.has_answer for e in entries),
                   total=len(entries), awaiting=len(waiting), claims=claims,
                   href=grading_href(first.assignment, first.part),
                   next_href=grading_href(first.assignment, first.part, free[0].student) if free else None)


def _student_row(entry: Any) -> StudentRow:
    grade = entry.grade
    if grade is not None and entry.stale:
        status, css = "answer changed since graded", "status-awaiting"
    elif grade is not None:
        status, css = "graded", "status-graded"
    elif entry.has_answer:
        status, css = "awaiting", "status-awaiting"
    else:
        status, css = "no answer", "status-missing"
    claimed = f"{entry.claimed_by} since {timestamp(entry.claimed_at)}" if entry.claimed_by and entry.claimed_at else ""
    return StudentRow(student=entry.student, href=grading_href(entry.assignment, entry.part, entry.student),
                      status=status, css=css, points=points(grade.points) if grade else "",
                      graded_by=f"{grade.graded_by} (v{grade.version})" if grade else "", claimed_by=claimed,
                      student_href="/" + student_page(entry.student))
