"""HTML for the app: the report's templates (grader/reports/templates) under a thin base of
ours that adds who is logged in, and the gradebook's pages cached per revision.

Nothing is forked: `base.html` here extends the report's `base.html` (reached as
`reports/base.html`) and fills its `session` block; every report page that extends
"base.html" gets ours first. Jinja autoescapes everything, as in the static report.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any

import jinja2
from markupsafe import escape

from grader.reports.site import Site
from grader.reports.write import environment, render, store_site
from grader.store.gradebook import Gradebook

log = logging.getLogger("grader.web")


def web_environment() -> jinja2.Environment:
    reports = jinja2.PackageLoader("grader.reports", "templates")
    return environment(jinja2.ChoiceLoader([
        jinja2.PackageLoader("grader.web", "templates"),  # base.html (ours, wrapping theirs), login.html
        jinja2.PrefixLoader({"reports": reports}),  # reports/base.html: theirs, for ours to extend
        reports,  # index.html, student.html, test.html, run.html
    ]))


SESSION_MARK = "<!--grade-session-->"  # where base.html puts who is logged in, in a page rendered for nobody
CSRF_MARK = "<!--grade-csrf-->"  # where a form of such a page puts the visitor's token (student.html)


def render_page(env: jinja2.Environment, context: Any, visitor: Any) -> str:
    """A report page as the app serves it: its own template, our header with `visitor`."""
    return render(env, context, visitor=visitor)


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


class SiteCache:
    """The report's pages for the gradebook as it is now, or a moment ago.

    Reading every result of a class takes a while (seconds at 600 students), so the Site is
    kept until the gradebook's revision (results, overrides, runs, manual grades) changes; each
    request costs one small query to find out. When it changed, one thread rebuilds the Site in
    the background and the request waits for it up to `wait_s`; past that it gets the previous
    Site (its footer says when that was generated), so TAs saving grades all day do not make
    every overview wait seconds. The very first Site is always waited for. The pages
    themselves are rendered once per Site, for nobody, and get the visitor's header per
    request (with_session).
    """

    def __init__(self, book: Gradebook, title: str, wait_s: float = 0.1) -> None:
        self._book = book
        self._title = title
        self._wait_s = wait_s
        self._lock = threading.Lock()
        self._built = threading.Condition(self._lock)
        self._revision: tuple[Any, ...] | None = None
        self._site: Site | None = None
        self._building = False
        self._started = 0  # rebuilds started, numbered from 1
        self._finished = 0  # the number of the last rebuild that finished (well or not)
        self._rendered: tuple[Site | None, dict[str, str]] = (None, {})  # pages of one Site, rendered for nobody

    def rendered(self, site: Site, path: str, env: jinja2.Environment) -> str | None:
        """The page at `path` of `site` rendered for nobody (see with_session), rendered once per
        Site: the overview of 600 students is a megabyte of HTML, 0.1 s or more to render."""
        with self._lock:
            owner, pages = self._rendered
            if owner is not site:
                pages = {}
                self._rendered = (site, pages)
            if path in pages:
                return pages[path]
        context = site.page(path)
        if context is None:
            return None
        html = render_page(env, context, None)
        with self._lock:
            if self._rendered[0] is site:
                self._rendered[1][path] = html
        return html

    def current(self) -> Site:
        revision = self._book.revision()
        with self._lock:
            if self._site is None:  # nothing to show yet: build it here; other readers wait on the lock
                self._site, self._revision = self._build(), revision
                return self._site
            if revision == self._revision:
                return self._site
            wanted = self._started + 1  # a rebuild that starts after the change this request saw
            deadline = time.monotonic() + self._wait_s
            while self._finished < wanted:
                if not self._building:
                    self._building = True
                    self._started += 1
                    threading.Thread(target=self._rebuild, args=(self._started, revision), name="grade-site",
                                     daemon=True).start()
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._built.wait(left)
            return self._site

    def _build(self) -> Site:
        return store_site(self._book, title=self._title, generated_at=datetime.now(timezone.utc))

    def _rebuild(self, number: int, revision: tuple[Any, ...]) -> None:
        try:
            site: Site | None = self._build()
        except Exception:  # keep serving the previous Site; the next request tries again
            log.exception("rebuilding the report's pages failed; serving the previous ones")
            site = None
        with self._lock:
            if site is not None:
                self._site, self._revision = site, revision
            self._building = False
            self._finished = number
            self._built.notify_all()
