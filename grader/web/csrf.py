"""Cross-site request forgery: every state-changing request is a POST carrying a token that
only a page of ours could have put in the form.

- A logged-in visitor's token is an HMAC of their session id (which only their cookie
  holds), so it is per session and dies with it; for a visitor a trusted proxy vouched
  for, an HMAC of their name under the app's secret.
- The login form has no session yet: its token is signed with the app's secret and sent
  twice, in the form and in a cookie scoped to /login (signed double submit), so another
  site can neither read it nor plant one of its own.

Forms are parsed here, bounded: url-encoded only (no multipart, no file uploads).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

FIELD = "csrf_token"
LOGIN_TOKEN_TTL_S = 2 * 60 * 60
MAX_FORM_BYTES = 256 * 1024  # a 20,000-character comment, percent-encoded, fits

Form = dict[str, str]
FormHandler = Callable[[Request, Form], Awaitable[Response]]


def session_token(session_id: str) -> str:
    return hmac.new(session_id.encode(), b"grade csrf v1", hashlib.sha256).hexdigest()


def proxy_token(secret: bytes, user: str) -> str:
    return hmac.new(secret, b"grade proxy csrf v1\0" + user.encode(), hashlib.sha256).hexdigest()


def new_login_token(secret: bytes, now: float | None = None) -> str:
    issued = f"{int(time.time() if now is None else now)}.{secrets.token_urlsafe(16)}"
    return f"{issued}.{_sign(secret, issued)}"


def login_token_valid(secret: bytes, token: str | None, now: float | None = None) -> bool:
    """Whether `token` is one of ours and younger than LOGIN_TOKEN_TTL_S."""
    if not token or len(token) > 200:
        return False
    issued, _, signature = token.rpartition(".")
    if not same_token(_sign(secret, issued), signature):
        return False
    try:
        age = (time.time() if now is None else now) - int(issued.partition(".")[0])
    except ValueError:
        return False
    return 0 <= age <= LOGIN_TOKEN_TTL_S


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time equality of two tokens; an absent or empty one never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8", "replace"), given.encode("utf-8", "replace"))


def forbidden() -> Response:
    return PlainTextResponse("403 Forbidden: this form's token is missing or stale; reload the page and try again.\n",
                             status_code=403)


async def read_form(request: Request) -> Form | None:
    """The url-encoded form of a POST, first value per field; {} for another or a broken body,
    None when it is larger than MAX_FORM_BYTES."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return None
    except ClientDisconnect:
        return {}
    if kind != "application/x-www-form-urlencoded":
        return {}
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in parsed.items()}


def csrf_protected(handler: FormHandler) -> Callable[[Request], Awaitable[Response]]:
    """A POST endpoint for a logged-in visitor (auth.require_login put them in request.state):
    403 unless the form carries their token; the handler gets the parsed form."""

    async def endpoint(request: Request) -> Response:
        form = await read_form(request)
        if form is None:
            return PlainTextResponse("413: the form is too large\n", status_code=413)
        visitor = getattr(request.state, "visitor", None)
        if visitor is None or not same_token(visitor.csrf_token, form.get(FIELD)):
            return forbidden()
        return await handler(request, form)

    endpoint.csrf_protected = True  # type: ignore[attr-defined]  # the app's test finds every POST route by it
    return endpoint


def _sign(secret: bytes, text: str) -> str:
    return hmac.new(secret, b"grade login v1\0" + text.encode(), hashlib.sha256).hexdigest()
