"""The app: `create_app(db_url, ...)` gives a Starlette application over one gradebook.

    GET  /login, POST /login     the form (public), the login itself
    POST /logout                 ends the session (CSRF token required, like every POST)
    GET  / and /index.html       the class overview
    GET  /students/<page>        one page per student  } names as the static report has them
    GET  /tests/<page>           one page per test     }
    GET  /runs/run-<id>.html     one page per grading run
    GET  /static/style.css       the report's stylesheet and the app's (public)
    GET  /static/grading.js      the grading page's keyboard shortcuts (public)
    GET  /grading                the queue: what awaits manual grading, who is grading what
    GET  /grading/<a>/<part>     one manual part's students
    GET  /grading/<a>/<part>/<student>   one answer beside the rubric (opening it claims it)
    POST /grading/<a>/<part>/<student>   save a grade (compare-and-set on its version)
    POST /overrides              override a grade from the student's page, with a reason
    GET  /history                the audit trail (?student=&assignment=&kind=)

Middleware, outermost first: the access log, the security headers, the login gate. A later
state-changing route is a POST wrapped in csrf.csrf_protected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from grader.store.gradebook import Gradebook
from grader.web import grading, history, login, overrides, pages, queue
from grader.web.auth import RequireLogin
from grader.web.csrf import csrf_protected
from grader.web.headers import AccessLog, SecurityHeaders
from grader.web.limiter import FailureLimiter, LoginLimits
from grader.web.queue_cache import QueueCache
from grader.web.rendering import web_environment
from grader.web.site_cache import SiteCache
from grader.web.state import WebState

TITLE = "grade"  # `grade serve` passes the course.yaml title


def create_app(db_url: str, *, secure_cookies: bool, trust_proxy_header: str | None,
               title: str = TITLE, limits: LoginLimits = LoginLimits(), fresh_wait_s: float = 0.1) -> Starlette:
    """The web app over the gradebook at `db_url` (a SQLite path or an SQLAlchemy URL).

    `secure_cookies`: mark cookies Secure even when the request arrived over plain HTTP (the
    app behind an HTTPS proxy). `trust_proxy_header`: the header in which a reverse proxy
    names the user it authenticated (e.g. "X-Remote-User"); None, the default, trusts no
    header at all, X-Forwarded-* included. `fresh_wait_s`: how long a report page waits for
    the pages to be rebuilt after the gradebook changed before it shows the previous ones
    (site_cache.SiteCache; tests that check freshness wait longer).
    """
    book = Gradebook(db_url)
    web = WebState(
        book=book,
        env=web_environment(),
        sites=SiteCache(book, title, wait_s=fresh_wait_s),
        queues=QueueCache(book),
        by_user=FailureLimiter(limits.per_user, limits.window_s, limits.max_keys),
        by_client=FailureLimiter(limits.per_client, limits.window_s, limits.max_keys),
        secure_cookies=secure_cookies,
        proxy_header=trust_proxy_header or None,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        web.sites.start()  # read the gradebook now, in the background, not at the first visit
        try:
            yield
        finally:
            book.close()

    routes = [
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login_submit, methods=["POST"]),
        Route("/logout", csrf_protected(login.logout), methods=["POST"]),
        Route("/", pages.overview, methods=["GET"]),
        Route("/index.html", pages.overview, methods=["GET"]),
        Route("/static/style.css", pages.stylesheet, methods=["GET"]),
        Route("/static/grading.js", pages.grading_script, methods=["GET"]),
        Route("/favicon.ico", pages.favicon, methods=["GET"]),
        Route("/grading", queue.queue_page, methods=["GET"]),
        Route("/grading/{assignment:str}/{part:str}", queue.part_page, methods=["GET"]),
        Route("/grading/{assignment:str}/{part:str}/{student:str}", grading.grading_page, methods=["GET"]),
        Route("/grading/{assignment:str}/{part:str}/{student:str}", csrf_protected(grading.grading_save),
              methods=["POST"]),
        Route("/overrides", csrf_protected(overrides.override_submit), methods=["POST"]),
        Route("/history", history.history_page, methods=["GET"]),
        Route("/{folder:str}/{page:str}", pages.folder_page, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(AccessLog), Middleware(SecurityHeaders), Middleware(RequireLogin)],
        lifespan=lifespan,
    )
    app.state.web = web
    return app
