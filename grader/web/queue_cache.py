"""The grading queue, read once per gradebook revision.

`gradebook.manual.queue()` reads every manual part of every latest result (2,400 rows for 600
students and four parts): worth keeping while nothing changed (no grade, result or claim). The queue and part pages ask for
the current one (one small revision query per request, as the report's pages do). The grading
page only needs the order of a part's students, which changes only when results come in, so it
takes the last queue read, whatever its revision, and reads a new one only when the student is
not in it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from grader.store.gradebook import Gradebook


class QueueCache:
    def __init__(self, book: Gradebook) -> None:
        self._book = book
        self._lock = threading.Lock()
        self._revision: tuple[Any, ...] | None = None
        self._entries: list[Any] | None = None

    def current(self) -> list[Any]:
        """The queue as the gradebook has it now (every assignment)."""
        revision = self._revision_now()
        with self._lock:  # one reader reads it; the others wait for its answer
            if self._entries is None or revision != self._revision:
                self._entries = self._book.manual.queue(None)
                self._revision = revision
            return self._entries

    def _revision_now(self) -> tuple[Any, ...]:
        # The gradebook's revision leaves claims out (no report page shows them); the queue shows
        # them, so the newest grade event (a claim changing hands is one) is part of its key, and
        # the minute, so a claim past its 30 minutes drops off without anything else changing.
        newest = self._book.events(limit=1)
        return self._book.revision(), newest[0].id if newest else None, int(time.time() // 60)

    def last(self) -> list[Any]:
        """The queue as last read (for the order of a part's students); read now if never read."""
        with self._lock:
            entries = self._entries
        return entries if entries is not None else self.current()

    def students(self, assignment: str, part: str, student: str) -> list[str]:
        """The students of a manual part by name (the order n and p walk), from the last queue read,
        or a fresh one when `student` is not in it (their result came in since)."""
        found = _students(self.last(), assignment, part)
        if student not in found:
            found = _students(self.current(), assignment, part)
        return found


def _students(entries: list[Any], assignment: str, part: str) -> list[str]:
    return sorted(e.student for e in entries if e.assignment == assignment and e.part == part)
