"""The report's pages for the gradebook as it is now, or a moment ago, each rendered once.

Reading every result of a class takes seconds at 600 students, so the Site is kept until the
gradebook's revision changes; each request costs one small query to find out. What changed
decides what is redone:

- a TA's save or an override (only the revision's `manual` or `overrides`): the few (student,
  assignment) pairs concerned are read again and the Site is revised (Site.revised), in
  milliseconds; the other students' pages, their overview rows included, are kept as rendered;
- anything else (results of a grading run, a run, the roster): every result is read again.

Either way one thread refreshes in the background and the request waits for it up to `wait_s`;
past that it gets the previous pages (their footer says when they were generated), so a grading
run does not make every overview wait seconds. The very first Site is waited for; the app starts
building it at start-up (`start`), before the first visitor. Pages are rendered for nobody and get
the visitor's header per request (rendering.with_session).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import jinja2
from markupsafe import Markup

from grader.models import ManualGrade
from grader.reports.contexts import IndexContext, StudentRow
from grader.reports.site import Site
from grader.reports.text import student_page, timestamp
from grader.reports.write import store_site
from grader.store.gradebook import Gradebook, Revision, StoredResult
from grader.store.manual import apply_manual
from grader.web.rendering import render_page

log = logging.getLogger("grader.web")

Pair = tuple[str, str]


@dataclass(frozen=True)
class Snapshot:
    """One Site and what it was built from, for the next save to revise rather than read again."""

    site: Site
    revision: Revision
    computed: dict[Pair, list[StoredResult]]  # each pair's results as graded, without the TAs' grades
    versions: dict[tuple[str, str, str], tuple[int, int]]  # ManualGrading.versions() as read before the Site


class SiteCache:
    """The current Site of one gradebook and its pages as rendered (see the module's docstring)."""

    def __init__(self, book: Gradebook, title: str, wait_s: float = 0.1) -> None:
        self._book = book
        self._title = title
        self._wait_s = wait_s
        self._lock = threading.Lock()
        self._built = threading.Condition(self._lock)
        self._snapshot: Snapshot | None = None
        self._building = False
        self._started = 0  # refreshes started, numbered from 1
        self._finished = 0  # the number of the last refresh that finished (well or not)
        self._pages: tuple[Site | None, dict[str, str]] = (None, {})  # pages of one Site, rendered for nobody
        self._rows: dict[int, tuple[StudentRow, str]] = {}  # the overview's rows as last rendered, by id(row)

    def start(self) -> None:
        """Build the first Site in the background now (at the app's start-up), so the first visitor
        waits for what is left of it rather than for all of it."""
        with self._lock:
            if self._snapshot is None and not self._building:
                self._spawn(None)

    def ready(self) -> bool:
        """Whether a Site is there to show (the start-up build finished)."""
        with self._lock:
            return self._snapshot is not None

    def current(self) -> Site:
        revision = self._book.revision()
        with self._lock:
            if self._snapshot is None:  # nothing to show yet: wait for the first build, however long
                return self._first()
            if revision == self._snapshot.revision:
                return self._snapshot.site
            wanted = self._started + 1  # a refresh that starts after the change this request saw
            deadline = time.monotonic() + self._wait_s
            while self._finished < wanted:
                if not self._building:
                    self._spawn(revision)
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._built.wait(left)
            return self._snapshot.site

    def rendered(self, site: Site, path: str, env: jinja2.Environment) -> str | None:
        """The page at `path` of `site` rendered for nobody (see rendering.with_session), once per Site;
        a revised Site starts with the student pages its predecessor rendered for students it kept."""
        with self._lock:
            owner, pages = self._pages
            if owner is not site:
                pages = _kept_pages(owner, site, pages)
                self._pages = (site, pages)
            if path in pages:
                return pages[path]
        context = site.page(path)
        if context is None:
            return None
        html = self._render_index(env, context) if isinstance(context, IndexContext) else render_page(env, context, None)
        with self._lock:
            if self._pages[0] is site:
                self._pages[1][path] = html
        return html

    def _render_index(self, env: jinja2.Environment, context: IndexContext) -> str:
        """The overview, its class table's rows (a megabyte at 600 students) rendered once per row: a
        row a revised Site kept is the same object, and keeps its HTML."""
        class_row = env.get_template("_class_row.html").module.class_row  # type: ignore[attr-defined]
        with self._lock:
            known = self._rows
        # By identity, not equality: a revised Site hands on the very rows it kept (overview.KnownParts),
        # and hashing 600 rows of 8 cells each time would cost more than the lookups save.
        rows = {}
        for row in context.students:
            hit = known.get(id(row))
            rows[id(row)] = hit if hit is not None and hit[0] is row else (row, str(class_row(row)))
        with self._lock:
            self._rows = rows
        return render_page(env, context, None, class_rows=Markup("".join(rows[id(row)][1] for row in context.students)))

    # -- building ------------------------------------------------------------------------------

    def _first(self) -> Site:
        """Called with the lock held and no Site yet: wait for the build under way, or build here."""
        if not self._building:
            self._spawn(None)
        wanted = self._started
        while self._finished < wanted:
            self._built.wait()
        if self._snapshot is None:  # the build failed: try once more here, so the visitor sees why
            self._snapshot = self._read_all(self._book.revision())
        return self._snapshot.site

    def _spawn(self, revision: Revision | None) -> None:
        self._building = True
        self._started += 1
        threading.Thread(target=self._refresh, args=(self._started, revision), name="grade-site", daemon=True).start()

    def _refresh(self, number: int, revision: Revision | None) -> None:
        with self._lock:
            old = self._snapshot
        try:
            revision = revision or self._book.revision()
            snapshot = self._revise(old, revision) if old is not None else None
            if snapshot is None:
                snapshot = self._read_all(revision)
        except Exception:  # keep serving the previous Site; the next request tries again
            log.exception("rebuilding the report's pages failed; serving the previous ones")
            snapshot = None
        with self._lock:
            if snapshot is not None:
                self._snapshot = snapshot
            self._building = False
            self._finished = number
            self._built.notify_all()

    def _read_all(self, revision: Revision) -> Snapshot:
        """Every result read again (the revision is read before anything, so a change made while this
        reads makes the next request refresh again)."""
        versions = self._book.manual.versions()  # before the grades: a save in between is seen next time
        computed = self._book.computed_history()
        history = _with_manual(computed, self._book.manual.all())
        by_pair: dict[Pair, list[StoredResult]] = {}
        for stored in computed:
            by_pair.setdefault((stored.grade.student, stored.grade.assignment), []).append(stored)
        site = store_site(self._book, title=self._title, generated_at=datetime.now(timezone.utc), history=history)
        return Snapshot(site, revision, by_pair, versions)

    def _revise(self, old: Snapshot, revision: Revision) -> Snapshot | None:
        """The Site revised for the pairs whose manual grades or overrides changed; None when more
        than those changed (results, runs, roster) and everything must be read again."""
        if revision._replace(manual=old.revision.manual, overrides=old.revision.overrides) != old.revision:
            return None
        versions = self._book.manual.versions()
        overrides = self._book.overrides()
        pairs = {(s, a) for s, a, _ in old.versions.keys() ^ versions.keys()}
        pairs |= {(s, a) for (s, a, p), v in versions.items() if old.versions.get((s, a, p)) != v}
        pairs |= old.site.changed_pairs(overrides)
        if not pairs <= old.computed.keys():  # a grade for a result this Site has not read
            return None
        history = [stored for pair in sorted(pairs)
                   for stored in _with_manual(old.computed[pair], self._book.manual.of(*pair))]
        latest = {(r.grade.student, r.grade.assignment): r.grade for r in history}  # oldest first: the newest wins
        site = old.site.revised(list(latest.values()), history=history, overrides=overrides,
                                generated_at=timestamp(datetime.now(timezone.utc)))
        return Snapshot(site, revision, old.computed, versions)


def _with_manual(computed: list[StoredResult], manual: Iterable[ManualGrade]) -> list[StoredResult]:
    grades = apply_manual([r.grade for r in computed], manual)
    return [replace(r, grade=grade) for r, grade in zip(computed, grades)]


def _kept_pages(old: Site | None, new: Site, pages: dict[str, str]) -> dict[str, str]:
    """The student pages rendered for `old` that `new` (revised from it) shows unchanged."""
    if old is None or new.revised_from is None or new.revised_from() is not old:
        return {}
    changed = {student_page(s) for s in new.changed_students}
    return {path: html for path, html in pages.items() if path.startswith("students/") and path not in changed}
