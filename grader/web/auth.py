"""Who is asking, and the gate every page but the login form and the stylesheet sits behind.

A visitor is logged in by a session cookie (a random id; the store keeps only its hash) or,
when `grade serve --trust-proxy-header NAME` says so, by a reverse proxy that authenticated
them and names an existing account in that header. Anyone else asking for a page is sent to
/login (303) with the page to come back to; nothing of the page is computed for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from grader.store.accounts import SESSION_TTL, User
from grader.web.csrf import proxy_token, session_token
from grader.web.state import WebState

SESSION_COOKIE = "grade_session"
ASSETS = frozenset({"/static/style.css", "/static/grading.js", "/favicon.ico"})  # public: no grade in them
PUBLIC = ASSETS | {"/login"}


@dataclass(frozen=True)
class Visitor:
    """A logged-in visitor: who, the token their forms carry, and their session id (None when
    a trusted proxy vouched for them instead)."""

    user: User
    csrf_token: str
    session_id: str | None


def identify(web: WebState, request: Request) -> Visitor | None:
    """The visitor behind a request, or None. Blocking (a database query): run it in a thread."""
    if web.proxy_header:
        name = request.headers.get(web.proxy_header, "").strip()
        user = web.book.accounts.user(name) if name else None
        if user is not None:
            return Visitor(user=user, csrf_token=proxy_token(web.secret, user.name), session_id=None)
    session_id = request.cookies.get(SESSION_COOKIE, "")
    found = web.book.accounts.session(session_id) if session_id else None
    if found is None:
        return None
    return Visitor(user=found.user, csrf_token=session_token(session_id), session_id=session_id)


def is_https(web: WebState, request: Request) -> bool:
    """Whether cookies get the Secure flag: --secure-cookies, HTTPS itself, or a trusted proxy saying so."""
    if web.secure_cookies or request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "")
    return bool(web.proxy_header) and forwarded.partition(",")[0].strip().lower() == "https"


def client_address(web: WebState, request: Request) -> str:
    """The client, for the rate limit and the log: behind a trusted proxy, the address it saw
    (the last X-Forwarded-For entry, the one the proxy appended itself)."""
    if web.proxy_header:
        forwarded = request.headers.get("x-forwarded-for", "").rpartition(",")[2].strip()
        if forwarded:
            return forwarded[:64]
    return request.client.host if request.client else "-"


def set_session_cookie(web: WebState, request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(SESSION_COOKIE, session_id, max_age=int(SESSION_TTL.total_seconds()), path="/",
                        secure=is_https(web, request), httponly=True, samesite="lax")


def clear_session_cookie(web: WebState, request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=is_https(web, request), httponly=True, samesite="lax")


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site, never another site ("//evil",
    "/\\evil", "https://evil" and anything odd become "/")."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def login_redirect(request: Request) -> Response:
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(safe_next(wanted), safe='')}", status_code=303)


class RequireLogin:
    """ASGI middleware: identify the visitor (request.state.visitor) and turn anyone not logged
    in away from every path but PUBLIC: a redirect to /login for GET and HEAD, 403 otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        web: WebState = scope["app"].state.web
        visitor = None if scope["path"] in ASSETS else await run_in_threadpool(identify, web, request)
        scope.setdefault("state", {})["visitor"] = visitor
        if visitor is None and scope["path"] not in PUBLIC:
            if scope["method"] in ("GET", "HEAD"):
                response = login_redirect(request)
            else:
                response = PlainTextResponse("403 Forbidden: log in first\n", status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
