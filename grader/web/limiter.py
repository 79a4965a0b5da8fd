"""Failed logins, counted per key (a user name, a client address) in a sliding window.

In memory and bounded: at most `max_keys` keys (the least recently failed is dropped first)
and `limit` timestamps per key, so a flood of made-up user names costs a fixed amount of
memory. It resets when the server restarts; it is a brake on guessing, not an audit trail.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LoginLimits:
    """5 wrong passwords per user name and 20 per client in 15 minutes, then wait."""

    per_user: int = 5
    per_client: int = 20
    window_s: float = 15 * 60
    max_keys: int = 10_000


class FailureLimiter:
    """At most `limit` failures per key in any `window_s` seconds."""

    def __init__(self, limit: int, window_s: float, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        with self._lock:
            found = self._failures.get(key)
            if found is None:
                return 0.0
            now = self._clock()
            while found and found[0] <= now - self._window:
                found.popleft()
            if not found:
                del self._failures[key]
                return 0.0
            return max(0.0, found[0] + self._window - now) if len(found) >= self._limit else 0.0

    def fail(self, key: str) -> None:
        with self._lock:
            found = self._failures.pop(key, None) or deque(maxlen=self._limit)
            found.append(self._clock())
            self._failures[key] = found  # now the most recent
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)
