"""HTML for the app: the report's templates (grader/reports/templates) under a thin base of
ours that adds who is logged in, and the gradebook's pages cached per revision.

Nothing is forked: `base.html` here extends the report's `base.html` (reached as
`reports/base.html`) and fills its `session` block; every report page that extends
"base.html" gets ours first. Jinja autoescapes everything, as in the static report.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

import jinja2

from grader.reports.site import Site
from grader.reports.write import environment, render, store_site
from grader.store.gradebook import Gradebook


def web_environment() -> jinja2.Environment:
    reports = jinja2.PackageLoader("grader.reports", "templates")
    return environment(jinja2.ChoiceLoader([
        jinja2.PackageLoader("grader.web", "templates"),  # base.html (ours, wrapping theirs), login.html
        jinja2.PrefixLoader({"reports": reports}),  # reports/base.html: theirs, for ours to extend
        reports,  # index.html, student.html, test.html, run.html
    ]))


def render_page(env: jinja2.Environment, context: Any, visitor: Any) -> str:
    """A report page as the app serves it: its own template, our header with `visitor`."""
    return render(env, context, visitor=visitor)


def render_template(env: jinja2.Environment, name: str, context: Any, visitor: Any = None) -> str:
    """One of the app's own pages (login.html) from its frozen context."""
    return env.get_template(name).render(vars(context) | {"visitor": visitor})


class SiteCache:
    """The report's pages for the gradebook as it is now.

    Reading every result of a class takes a while, so the Site is kept until the
    gradebook's revision (results, overrides, runs) changes; each request costs one small
    query to find out. The pages themselves are rendered per request (the header differs).
    """

    def __init__(self, book: Gradebook, title: str) -> None:
        self._book = book
        self._title = title
        self._lock = threading.Lock()
        self._revision: tuple[Any, ...] | None = None
        self._site: Site | None = None

    def current(self) -> Site:
        revision = self._book.revision()
        with self._lock:  # one reader rebuilds; the others wait for its Site rather than build their own
            if self._site is None or revision != self._revision:
                self._site = store_site(self._book, title=self._title, generated_at=datetime.now(timezone.utc))
                self._revision = revision
            return self._site
