"""What every handler of the app shares, kept on `app.state.web` (one per create_app)."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

import jinja2
from starlette.requests import Request

from grader.store.gradebook import Gradebook
from grader.web.limiter import FailureLimiter
from grader.web.queue_cache import QueueCache
from grader.web.site_cache import SiteCache


@dataclass
class WebState:
    book: Gradebook
    env: jinja2.Environment
    sites: SiteCache
    queues: QueueCache
    by_user: FailureLimiter
    by_client: FailureLimiter
    secure_cookies: bool
    proxy_header: str | None  # a reverse proxy's authenticated-user header, trusted only when named
    # Signs the login form's tokens; new at every start (an open login form then needs a reload).
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # argon2 takes 64 MiB and most of a core per check: a burst of logins queues instead of swapping.
    hashing: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(2))


def web_state(request: Request) -> WebState:
    return request.app.state.web
