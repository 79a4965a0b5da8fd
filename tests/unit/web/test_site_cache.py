"""The report's pages in the app are rebuilt in the background when the gradebook changes: a
request waits a moment for the new ones, then gets the previous ones rather than wait seconds.
A TA's save or an override revises the pages of the pairs it changed; what they show must be
exactly what reading the whole gradebook again would show."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

from grader.models import Execution, ManualResult, Signal, SignalKind, Status
from grader.reports.text import student_page
from grader.store.gradebook import Gradebook
from grader.web.rendering import web_environment
from grader.web.site_cache import SiteCache
from tests.factories import FINGERPRINT, make_grade, make_manual_part, make_test_result

ASSIGNMENT = "05_attention_mechanism"


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


def fill_manual(book: Gradebook) -> None:
    """Four students with a written answer in 05 and a result in 01; two runs, so the run pages
    compare results (s1 resubmitted 05 in the second run)."""
    for run_number in (1, 2):
        run = book.start_run({})
        for student in ("s1", "s2", "s3", "s4"):
            if run_number == 2 and student != "s1":
                continue
            answer = f"{student}'s answer, take {run_number}: the logits' variance grows with d_k."
            # s3's output claims success while a test failed: a tamper signal, until a TA's points lift
            # the score to the max (signals.py compares them)
            claim = Execution(Status.GRADED, signals=(Signal(SignalKind.SUCCESS_CLAIM, "All tests passed!"),))
            tests = (make_test_result("test_scores", max_points=2.0),
                     make_test_result("test_mask", "failed", max_points=3.0) if student == "s3" else
                     make_test_result("test_mask", max_points=3.0))
            book.record(run, make_grade(student, manual=(ManualResult(make_manual_part(), answer),), tests=tests,
                                        fingerprint=replace(FINGERPRINT, submission_hash=f"{run_number:064d}"),
                                        execution=claim if student == "s3" else None))
            if run_number == 1:
                book.record(run, make_grade(student, "01_neural_networks"))
        book.finish_run(run)


def footerless(html: str) -> str:
    return re.sub(r"Generated [^.<]*\.", "Generated.", html)


def same_pages(cache: SiteCache, book: Gradebook) -> None:
    """Every page of the cache's Site is what a Site read afresh from the gradebook shows (the
    time it was generated aside), its overview as the app renders it included."""
    site = cache.current()
    assert site.revised_from is not None, "a save or an override should revise the pages, not read them again"
    fresh = SiteCache(book, "t", wait_s=60)
    env = web_environment()
    assert site.paths() == fresh.current().paths()
    for path in site.paths():
        mine, theirs = site.page(path), fresh.current().page(path)
        assert replace(mine, generated_at="") == replace(theirs, generated_at=""), path  # type: ignore[type-var]
        assert footerless(cache.rendered(site, path, env) or "") == footerless(fresh.rendered(fresh.current(), path, env) or ""), path


def test_a_save_or_an_override_revises_the_pages_as_a_full_read_would(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "grade.db") as book:
        fill_manual(book)
        cache = SiteCache(book, "t", wait_s=60)
        env = web_environment()
        first = cache.current()
        for path in first.paths():
            cache.rendered(first, path, env)
        kept = cache.rendered(first, student_page("s4"), env)

        book.manual.save("s1", ASSIGNMENT, "why_scale", items=["variance"], adjustment=0.5, comment="Half right.",
                         by="tara", expected_version=0)
        same_pages(cache, book)
        site = cache.current()
        assert "Half right." in (cache.rendered(site, student_page("s1"), env) or "")
        assert cache.rendered(site, student_page("s4"), env) is kept  # an untouched student's page: not rendered again

        book.add_override("s2", ASSIGNMENT, None, 1.5, reason="late fix", created_by="ingrid")
        book.add_override("s3", ASSIGNMENT, "test_scores", 1.0, reason="copied scores", created_by="ingrid")
        same_pages(cache, book)
        book.manual.save("s1", ASSIGNMENT, "why_scale", items=["variance", "saturation"], adjustment=0.0,
                         comment="Both, on a second look.", by="ingrid", expected_version=1, reason="regrade request")
        assert 'id="flags"' in (cache.rendered(cache.current(), "index.html", env) or "")  # s3's claim
        book.manual.save("s3", ASSIGNMENT, "why_scale", items=["variance", "saturation"], adjustment=0.0, comment="",
                         by="tara", expected_version=0)
        same_pages(cache, book)
        index = cache.rendered(cache.current(), "index.html", env) or ""
        assert 'id="flags"' not in index  # s3's score reached the max: the claim is no longer a signal
        assert "Both, on a second look." in (cache.rendered(cache.current(), student_page("s1"), env) or "")
        assert index.count("awaiting manual grading</span>") == 2  # s2 and s4 are still waiting

        # two revisions in a row with no overview asked for in between: the second builds on what
        # the first was handed, not on an overview nobody computed
        book.manual.save("s2", ASSIGNMENT, "why_scale", items=["saturation"], adjustment=0.0, comment="",
                         by="tara", expected_version=0)
        assert "awaiting" not in (cache.rendered(cache.current(), student_page("s2"), env) or "")
        book.manual.save("s4", ASSIGNMENT, "why_scale", items=["variance"], adjustment=1.0, comment="",
                         by="tara", expected_version=0)
        same_pages(cache, book)


def test_new_results_are_read_again_whole(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "grade.db") as book:
        fill_manual(book)
        cache = SiteCache(book, "t", wait_s=60)
        cache.current()
        add(book, "s5")
        site = cache.current()
        assert site.revised_from is None and "s5" in students(site)


def test_the_first_pages_are_built_at_start_up(tmp_path: Path) -> None:
    """`start` reads the gradebook in the background: the first visitor does not wait for all of it."""
    with Gradebook(tmp_path / "grade.db") as book:
        add(book, "alice")
        cache = SiteCache(book, "t", wait_s=0)
        cache.start()
        deadline = time.monotonic() + 60
        while not cache.ready():
            assert time.monotonic() < deadline, "the start-up build never finished"
            time.sleep(0.05)
        assert students(cache.current()) == {"alice"}
