"""Seconds spent per pipeline stage: one stopwatch per submission in a worker, summed at the end."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

STAGES = ("discover", "preflight", "prepare", "execute", "checks", "score", "store", "report")


class Stopwatch:
    """Seconds spent per pipeline stage; one per submission in a worker, summed at the end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._current: str | None = None
        self._since = 0.0

    def enter(self, stage: str | None) -> None:
        """End the current stage (if any) and start `stage` (None: stop the clock)."""
        now = time.monotonic()
        if self._current is not None:
            self.seconds[self._current] = self.seconds.get(self._current, 0.0) + now - self._since
        self._current, self._since = stage, now

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        previous = self._current
        self.enter(name)
        try:
            yield
        finally:
            self.enter(previous)

    def add(self, seconds: dict[str, float]) -> None:
        for stage, value in seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + value
