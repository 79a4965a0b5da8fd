"""POST /overrides: a grade fixed by hand from the student's page, with its reason, through
the gradebook's add_override (grader/store/overrides.py checks it; the store records who,
when, before, after, why). Back to the student's page on success; the error, as a page with
a way back, otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from grader.errors import GradeError
from grader.reports.text import anchor, student_page
from grader.web.csrf import Form
from grader.web.rendering import render_template
from grader.web.state import web_state


@dataclass(frozen=True)
class ProblemContext:
    page_title: str
    stylesheet: str
    heading: str
    error: str
    back_href: str
    back_label: str


async def override_submit(request: Request, form: Form) -> Response:
    web = web_state(request)
    student, assignment = form.get("student", "").strip(), form.get("assignment", "").strip()
    test_id = form.get("test", "").strip() or None
    reason = form.get("reason", "").strip()
    back = "/" + student_page(student) if student else "/"
    try:
        value = float(form.get("points", ""))
        if not math.isfinite(value):
            raise ValueError
    except ValueError:
        return problem(request, "Override not saved", "points must be a number, e.g. 4.5", back, status=400)
    try:
        await run_in_threadpool(lambda: web.book.add_override(student, assignment, test_id, value, reason=reason,
                                                              created_by=request.state.visitor.user.name))
    except GradeError as error:
        return problem(request, "Override not saved", str(error), back, status=400)
    return RedirectResponse(f"{back}#{anchor(assignment)}", status_code=303)


def problem(request: Request, heading: str, error: str, back: str, *, status: int) -> Response:
    """A page saying what went wrong, with a link back (nothing was changed)."""
    web = web_state(request)
    context = ProblemContext(page_title=f"{heading} · grade", stylesheet="/static/style.css", heading=heading,
                             error=error, back_href=back, back_label="Back")
    return HTMLResponse(render_template(web.env, "problem.html", context, request.state.visitor), status_code=status)
