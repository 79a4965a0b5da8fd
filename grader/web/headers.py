"""What every response carries, and the access log.

The policy is the static report's made fit for a server: scripts only from our own files
(the grading page's shortcuts, /static/grading.js; never inline, so markup that slipped into a
page still runs nothing), forms may post only to us, no one may frame the pages, nothing
loads from elsewhere. Inline style
attributes stay allowed (the pass-rate bars' widths); inline style elements do not. Images may
be data: URIs: the figures a notebook drew (checked base64 PNG or SVG, only ever in <img>, where
an SVG runs no script and loads nothing).
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; "
          "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # grades must not linger in a shared browser's cache
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
}
access_log = logging.getLogger("grader.web.access")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


class AccessLog:
    """One line per request: client, user, method, path, status, milliseconds. The path only:
    no query string, no body, no cookie, so no password or token ever reaches the log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            visitor = scope.get("state", {}).get("visitor")
            client = scope.get("client") or ("-", 0)
            access_log.info('%s %s "%s %s" %d %.1fms', client[0], visitor.user.name if visitor else "-",
                            scope["method"], _path(scope), status, (time.perf_counter() - started) * 1000)


def _path(scope: Scope) -> str:
    # The raw path is still percent-encoded: a %0A in it cannot forge a second log line.
    raw = scope.get("raw_path")
    text = raw.decode("ascii", "backslashreplace") if raw else scope["path"]
    return "".join(c if 0x20 < ord(c) < 0x7F else f"\\x{ord(c):02x}" for c in text)[:300]
