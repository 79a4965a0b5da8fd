"""The report's pages in the app are rebuilt in the background when the gradebook changes: a
request waits a moment for the new ones, then gets the previous ones rather than wait seconds."""

from __future__ import annotations

import time
from pathlib import Path

from grader.store.gradebook import Gradebook
from grader.web.site_cache import SiteCache
from tests.factories import make_grade


def add(book: Gradebook, student: str) -> None:
    run = book.start_run({})
    book.record(run, make_grade(student))
    book.finish_run(run)


def students(site) -> set[str]:  # type: ignore[no-untyped-def]
    return {row.student for row in site.page("index.html").students}


def test_a_change_is_shown_once_rebuilt_and_the_old_pages_meanwhile(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "grade.db") as book:
        add(book, "alice")
        waiting = SiteCache(book, "t", wait_s=60)
        impatient = SiteCache(book, "t", wait_s=0)
        assert students(waiting.current()) == students(impatient.current()) == {"alice"}
        first = impatient.current()
        assert impatient.current() is first  # nothing changed: the same Site, no rebuild

        add(book, "bob")
        assert students(waiting.current()) == {"alice", "bob"}  # waited for the rebuild
        assert impatient.current() is first  # did not wait: the previous pages, a rebuild under way
        deadline = time.monotonic() + 60
        while students(impatient.current()) != {"alice", "bob"}:
            assert time.monotonic() < deadline, "the background rebuild never finished"
            time.sleep(0.05)
