"""Every page of a report as a typed context, found by its path relative to the report root.

`write_reports` renders them all into files; the web app (grader/web) renders the one a
browser asks for, at the same path, so every relative link of the static report works there
too. A Site is built once from one reading of the gradebook and builds each context on demand.
"""

from __future__ import annotations

import copy
import re
import weakref
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

from grader.models import Grade
from grader.reports.contexts import (
    ChangeRow,
    IndexContext,
    RunPageContext,
    SimilarityLink,
    StudentPageContext,
    TestPageContext,
)
from grader.reports.overview import KnownParts, by_student, index_context
from grader.reports.runs import changes_by_run, pair_changes, run_context, run_links
from grader.reports.signals import tamper_signals
from grader.reports.student import override_notes, student_context
from grader.reports.tests_page import test_context, test_keys
from grader.reports.text import page_of_test, run_page, student_page
from grader.store.overrides import Override, apply_with_audit

INDEX = "index.html"
PageContext = IndexContext | StudentPageContext | TestPageContext | RunPageContext
PAGE_NAME = re.compile(r"^[A-Za-z0-9._-]*-[0-9a-f]{12}\.html$")  # students/ and tests/ (text.page_name)
RUN_PAGE = re.compile(r"^run-[0-9]+\.html$")


class Site:
    """The pages of one report. `grades` are the computed grades (one per student and assignment);
    `overrides` are applied on top; `runs` (store.RunInfo) and `history` (store.StoredResult) give
    the per-run pages; `roster` (student ids) flags the students graded but not on it."""

    def __init__(
        self,
        grades: Sequence[Grade],
        *,
        title: str,
        generated_at: str,
        overrides: Iterable[Override] = (),
        runs: Sequence[Any] = (),
        history: Sequence[Any] = (),
        roster: Iterable[str] = (),
        similarity: Sequence[SimilarityLink] = (),
    ) -> None:
        by_student(grades)  # refuses two grades for one pair before anything is built
        self.title = title
        self.generated_at = generated_at
        self._originals = list(grades)
        self._overrides = tuple(overrides)
        self._audited = apply_with_audit(self._originals, self._overrides)
        self._final = [g for g, _ in self._audited]
        self._groups: dict[str, list[tuple[Grade, Any, Grade]]] = {}
        for (after, audit), original in zip(self._audited, self._originals):
            self._groups.setdefault(after.student, []).append((after, audit, original))
        self._students = {student_page(s): s for s in by_student(self._final)}
        self._tests = {page_of_test(a, t): (a, t) for a, t in test_keys(self._final)}
        self._runs = list(runs)
        self._run_pages = {run_page(r.id): r for r in self._runs}
        self._pair_changes = pair_changes(history)
        self._roster = tuple(roster)
        self._similarity = tuple(similarity)
        self._known = KnownParts()  # what `index` may reuse of the Site this one revised
        # The Site this one revised (weakly: a chain of revisions must not keep every old Site alive)
        # and the students whose pages differ from it; a cache keeps the others' rendered pages.
        self.revised_from: weakref.ref[Site] | None = None
        self.changed_students: frozenset[str] = frozenset()

    def revised(self, grades: Sequence[Grade], *, history: Sequence[Any], overrides: Iterable[Override],
                generated_at: str) -> Site:
        """This report with the grades of a few (student, assignment) pairs replaced, and `overrides`
        (all of them) in force: what a TA's save or override changes, in milliseconds where reading
        the class again takes seconds at 600 students. `grades` may differ from the ones they replace only
        in their manual grades (points, comments): same tests, outcomes and statuses; `history`
        holds every stored result of those pairs (with the same manual grades applied). Everything
        of the other students is reused, the rendered overview rows too (KnownParts). The pairs of
        overrides added or removed must be among `grades` (Site.changed_pairs tells which)."""
        replaced = {(g.student, g.assignment): g for g in grades}
        missing = replaced.keys() - {(g.student, g.assignment) for g in self._originals}
        if missing:
            raise ValueError(f"revised() replaces grades, it adds none: no grade for {sorted(missing)} in this report")
        new = copy.copy(self)
        for name in ("index", "_changes"):  # cached properties, recomputed from the parts kept below
            new.__dict__.pop(name, None)
        new.generated_at = generated_at
        new._originals = [replaced.get((g.student, g.assignment), g) for g in self._originals]
        new._overrides = tuple(overrides)
        changed = {student for student, _ in replaced}
        new._audited = [
            apply_with_audit([original], new._overrides)[0] if (original.student, original.assignment) in replaced
            else audited
            for original, audited in zip(new._originals, self._audited)
        ]
        new._final = [g for g, _ in new._audited]
        new._groups = dict(self._groups)
        for student in changed:
            new._groups[student] = []
        for (after, audit), original in zip(new._audited, new._originals):
            if after.student in changed:
                new._groups[after.student].append((after, audit, original))
        new._pair_changes = self._pair_changes | pair_changes(history)
        new._known = self._still_known(new, changed, {assignment for _, assignment in replaced})
        new.revised_from = weakref.ref(self)
        new.changed_students = frozenset(changed)
        return new

    def _still_known(self, new: Site, students: set[str], assignments: set[str]) -> KnownParts:
        """What `new` (this Site with the grades of `students` in `assignments` revised) may reuse of
        this Site's overview: its parts when it was computed, else what this Site itself was handed
        (never computing this overview just for that: a refresh that nobody's overview waits for)."""
        if "index" in self.__dict__:
            index = self.index
            order = sorted(self._groups, key=lambda s: (s.casefold(), s))  # by_student's
            known = KnownParts(rows=dict(zip(order, index.students)), pass_rates=index.pass_rates,
                               flags=index.flags,
                               stats=dict(zip(sorted({g.assignment for g in self._final}), index.assignment_stats)))
        else:
            known = self._known
        # A TA's points can tip a claim of success into a signal (signals.py compares score and max).
        same_flags = all(tamper_signals(before) == tamper_signals(after)
                         for before, after in zip(self._originals, new._originals) if before is not after)
        return KnownParts(rows={s: r for s, r in known.rows.items() if s not in students},
                          pass_rates=known.pass_rates, flags=known.flags if same_flags else None,
                          stats={a: r for a, r in known.stats.items() if a not in assignments})

    @cached_property
    def _changes(self) -> dict[int, tuple[list[ChangeRow], int]]:
        return changes_by_run(self._pair_changes)

    def changed_pairs(self, overrides: Iterable[Override]) -> set[tuple[str, str]]:
        """The (student, assignment) pairs whose overrides differ between this report and `overrides`."""
        before, after = set(self._overrides), set(overrides)
        return {(o.student, o.assignment) for o in before ^ after}

    def paths(self) -> list[str]:
        """Every page, the index last (so a writer never links to a page it has not written yet)."""
        return [*self._students, *self._tests, *self._run_pages, INDEX]

    def page(self, path: str) -> PageContext | None:
        """The context of the page at `path` (e.g. "students/alice-0123456789ab.html"), or None."""
        if path == INDEX:
            return self.index
        if path in self._students:
            return self.student(self._students[path])
        if path in self._tests:
            return self.test(*self._tests[path])
        if path in self._run_pages:
            return run_context(self._run_pages[path], self._runs, self._changes, title=self.title,
                               generated_at=self.generated_at)
        return None

    @cached_property
    def index(self) -> IndexContext:
        return index_context(
            self._final,
            title=self.title,
            generated_at=self.generated_at,
            audits=[audit for _, audit in self._audited],
            originals=self._originals,
            overrides=override_notes(self._audited),
            runs=run_links(self._runs, self._pair_changes),
            roster=self._roster,
            similarity=self._similarity,
            known=self._known,
        )

    def student(self, student: str) -> StudentPageContext:
        return student_context(student, self._groups[student], title=self.title, generated_at=self.generated_at)

    def test(self, assignment: str, test_id: str) -> TestPageContext:
        return test_context(assignment, test_id, self._final, title=self.title, generated_at=self.generated_at)
