"""GET and POST /login, POST /logout.

A login checks the form's signed token first (403 without it), then the rate limits, then
the password (argon2, in a thread). Success always starts a new session (a session id
planted before login is never promoted) and ends the one the browser had; failure says
only "wrong username or password", whichever was wrong.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from grader.store.accounts import User
from grader.web.auth import (
    SESSION_COOKIE,
    clear_session_cookie,
    client_address,
    is_https,
    safe_next,
    set_session_cookie,
)
from grader.web.csrf import FIELD, LOGIN_TOKEN_TTL_S, Form, forbidden, login_token_valid, new_login_token, read_form, same_token
from grader.web.rendering import render_template
from grader.web.state import WebState, web_state

LOGIN_COOKIE = "grade_login"  # the login form's token, the second half of the double submit
WRONG = "wrong username or password"
log = logging.getLogger("grader.web.auth")


@dataclass(frozen=True)
class LoginContext:
    page_title: str
    stylesheet: str
    username: str
    next: str
    csrf_token: str
    error: str


async def login_form(request: Request) -> Response:
    web = web_state(request)
    target = safe_next(request.query_params.get("next"))
    if request.state.visitor is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(web, request, target=target)


async def login_submit(request: Request) -> Response:
    web = web_state(request)
    form = await read_form(request)
    if form is None:
        return PlainTextResponse("413: the form is too large\n", status_code=413)
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not (login_token_valid(web.secret, cookie) and same_token(cookie, form.get(FIELD))):
        return forbidden()
    username, password = form.get("username", "").strip()[:128], form.get("password", "")
    target = safe_next(form.get("next"))
    client = client_address(web, request)

    wait = max(web.by_user.wait(username), web.by_client.wait(client))
    if wait:
        log.warning("login refused for %r from %s: too many failures, %d s to wait", username, client, wait)
        minutes = math.ceil(wait / 60)
        response = _login_page(web, request, target=target, username=username, status=429,
                               error=f"too many failed logins; try again in {minutes} minute{'s' * (minutes != 1)}")
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response

    user = await run_in_threadpool(_check, web, username, password)
    if user is None:
        web.by_user.fail(username)
        web.by_client.fail(client)
        log.warning("failed login for %r from %s", username, client)
        return _login_page(web, request, target=target, username=username, error=WRONG)

    web.by_user.forget(username)
    old = request.cookies.get(SESSION_COOKIE)
    session_id = await run_in_threadpool(_restart_session, web, user, old)
    log.info("%s logged in from %s", user.name, client)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(web, request, response, session_id)
    response.delete_cookie(LOGIN_COOKIE, path="/login", secure=is_https(web, request), httponly=True,
                           samesite="strict")
    return response


async def logout(request: Request, form: Form) -> Response:
    web = web_state(request)
    visitor = request.state.visitor
    if visitor.session_id is not None:
        await run_in_threadpool(web.book.accounts.end_session, visitor.session_id)
    log.info("%s logged out", visitor.user.name)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(web, request, response)
    return response


def _check(web: WebState, username: str, password: str) -> User | None:
    with web.hashing:
        return web.book.accounts.check_password(username, password)


def _restart_session(web: WebState, user: User, old: str | None) -> str:
    if old:
        web.book.accounts.end_session(old)
    return web.book.accounts.start_session(user)


def _login_page(web: WebState, request: Request, *, target: str, username: str = "", error: str = "",
                status: int = 200) -> HTMLResponse:
    # Keep a still-valid token: a second tab, or a request the browser makes on its own, must
    # not replace the token of the form already on screen.
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not login_token_valid(web.secret, token, now=time.time() + LOGIN_TOKEN_TTL_S / 2):  # half its life left
        token = new_login_token(web.secret)
    context = LoginContext(page_title="Log in · grade", stylesheet="/static/style.css", username=username,
                           next=target, csrf_token=token, error=error)
    response = HTMLResponse(render_template(web.env, "login.html", context), status_code=status)
    response.set_cookie(LOGIN_COOKIE, token, max_age=LOGIN_TOKEN_TTL_S, path="/login",
                        secure=is_https(web, request), httponly=True, samesite="strict")
    return response
