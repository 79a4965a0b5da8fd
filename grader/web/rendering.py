"""HTML for the app: the report's templates (grader/reports/templates) under a thin base of
ours that adds who is logged in (the pages themselves are cached in site_cache.py).

Nothing is forked: `base.html` here extends the report's `base.html` (reached as
`reports/base.html`) and fills its `session` block; every report page that extends
"base.html" gets ours first. Jinja autoescapes everything, as in the static report.
"""

from __future__ import annotations

from typing import Any

import jinja2
from markupsafe import escape

from grader.reports.write import environment, render


def web_environment() -> jinja2.Environment:
    reports = jinja2.PackageLoader("grader.reports", "templates")
    return environment(jinja2.ChoiceLoader([
        jinja2.PackageLoader("grader.web", "templates"),  # base.html (ours, wrapping theirs), login.html
        jinja2.PrefixLoader({"reports": reports}),  # reports/base.html: theirs, for ours to extend
        reports,  # index.html, student.html, test.html, run.html
    ]))


SESSION_MARK = "<!--grade-session-->"  # where base.html puts who is logged in, in a page rendered for nobody
CSRF_MARK = "<!--grade-csrf-->"  # where a form of such a page puts the visitor's token (student.html)


def render_page(env: jinja2.Environment, context: Any, visitor: Any, **extra: Any) -> str:
    """A report page as the app serves it: its own template, our header with `visitor`; `extra`:
    what our own version of a template adds (index.html's `class_rows`, see site_cache.py)."""
    return render(env, context, visitor=visitor, **extra)


def with_session(env: jinja2.Environment, page: str, visitor: Any) -> str:
    """A report page rendered once for nobody (render_page(..., None)), with the visitor's header
    put in its place: the page itself is the same for every TA, only the header differs. The
    mark is the first thing in <header>, before any text of the gradebook (which Jinja escaped,
    so it cannot hold a mark itself); forms' tokens go where CSRF_MARK is."""
    page = page.replace(SESSION_MARK, env.get_template("session.html").render(visitor=visitor), 1)
    return page.replace(CSRF_MARK, str(escape(visitor.csrf_token)))


def render_template(env: jinja2.Environment, name: str, context: Any, visitor: Any = None) -> str:
    """One of the app's own pages (login.html) from its frozen context."""
    return env.get_template(name).render(vars(context) | {"visitor": visitor})
