"""Static HTML reports: class overview, one page per student, per test and per grading run.

Each page is rendered from a small frozen context built in grader/reports/; the templates in
``templates/`` only lay it out. Everything a student produced (their id, which is a folder
name, messages, outputs) is hostile: Jinja autoescapes it, the pages forbid scripts (CSP),
and page file names are slugs plus a hash, so no id can name a path outside ``out_dir``.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from grader.models import Grade
from grader.store.overrides import Override, apply_with_audit
from grader.reports.contexts import (
    IndexContext,
    RunPageContext,
    SimilarityLink,
    StudentPageContext,
    TestPageContext,
)
from grader.reports.feedback import feedback_context
from grader.reports.feedback_contexts import FeedbackContext
from grader.reports.overview import by_student, index_context
from grader.reports.site import INDEX, PAGE_NAME, RUN_PAGE, Site
from grader.reports.student import student_context
from grader.reports.text import (
    EXCERPT_LIMIT,
    RUNS_DIR,
    SIMILARITY_DIR,
    STUDENTS_DIR,
    TESTS_DIR,
    anchor as _anchor,
    clean,
    page_name,
    percent as _percent,
    spreadsheet_safe,
    timestamp,
)

__all__ = [
    "EXCERPT_LIMIT", "IndexContext", "RunPageContext", "StudentPageContext", "TestPageContext",
    "Site", "environment", "index_context", "page_name", "render", "store_site", "student_context", "stylesheet",
    "write_feedback", "write_reports", "write_store_reports",
    "_anchor", "_percent",
]

STYLESHEET = "static/style.css"
TEMPLATES = {
    IndexContext: "index.html",
    StudentPageContext: "student.html",
    TestPageContext: "test.html",
    RunPageContext: "run.html",
    FeedbackContext: "feedback.html",
}


def write_reports(
    grades: Sequence[Grade],
    out_dir: Path,
    *,
    title: str = "Grade report",
    generated_at: datetime | None = None,
    overrides: Iterable[Override] = (),
    runs: Sequence[Any] = (),
    history: Sequence[Any] = (),
    roster: Iterable[Any] = (),
) -> Path:
    """Write index.html, students/, tests/, runs/ and static/style.css under out_dir; return the index.

    `grades` are the computed grades (one per student and assignment); `overrides` are
    applied on top and shown with their audit trail. `runs` (store.RunInfo) and `history`
    (store.StoredResult) give the per-run pages; `roster` (models.RosterStudent) flags students not on
    it. Every page is rendered before any file is
    written, and each file replaces its old version atomically, so a failure while
    rendering leaves the previous report whole.
    """
    out_dir = Path(out_dir)
    site = Site(grades, title=title, generated_at=timestamp(generated_at or datetime.now(timezone.utc)),
                overrides=overrides, runs=runs, history=history, roster=[r.student for r in roster],
                similarity=similarity_links(out_dir))
    env = environment()
    pages: dict[str, str] = {}
    for relative in site.paths():
        context = site.page(relative)
        assert context is not None  # every path a Site lists is one of its pages
        pages[relative] = render(env, context)
    pages[STYLESHEET] = stylesheet()
    pages[INDEX] = pages.pop(INDEX)  # still written last

    for relative, text in pages.items():
        _write_atomic(out_dir / relative, text)
    for folder, pattern in ((STUDENTS_DIR, PAGE_NAME), (TESTS_DIR, PAGE_NAME), (RUNS_DIR, RUN_PAGE)):
        keep = {Path(p).name for p in pages if p.startswith(folder + "/")}
        _prune(out_dir / folder, keep, pattern)
    return out_dir / "index.html"


def similarity_links(out_dir: Path) -> tuple[SimilarityLink, ...]:
    """The pages `grade similarity` wrote into out_dir/similarity/ (its default place), for the index.

    Only the static report links them: the web app serves the gradebook's pages, not these files.
    """
    folder = out_dir / SIMILARITY_DIR
    if not folder.is_dir():
        return ()
    return tuple(SimilarityLink(clean(path.stem), f"{SIMILARITY_DIR}/{quote(path.name)}")
                 for path in sorted(folder.glob("*.html")) if path.is_file() and not path.is_symlink())


def write_store_reports(store: Any, out_dir: Path, *, title: str = "Grade report",
                        assignments: Iterable[str] | None = None) -> Path:
    """The reports for everything in a gradebook (grader.store.gradebook.Gradebook): latest grades, overrides, runs."""
    wanted = None if assignments is None else set(assignments)
    grades = [g for g in store.latest_grades() if wanted is None or g.assignment in wanted]
    return write_reports(grades, out_dir, title=title, overrides=store.overrides(), runs=store.runs(),
                         history=store.history(), roster=store.roster())


def store_site(store: Any, *, title: str, generated_at: datetime | None = None,
               history: Sequence[Any] | None = None) -> Site:
    """Every page of a gradebook's report, as `write_store_reports` would write them, none rendered yet.

    The gradebook is read once: the latest grade of each (student, assignment) is the one with
    the highest result id in the history, as in `latest_grades`, so a large class costs one
    read of every result rather than two. `history`: `store.history()` as the caller already
    read it (the web app keeps the results and applies the TAs' grades itself).
    """
    history = store.history() if history is None else history
    latest = {(r.grade.student, r.grade.assignment): r.grade for r in sorted(history, key=lambda r: r.result_id)}
    return Site([latest[key] for key in sorted(latest)], title=title,
                generated_at=timestamp(generated_at or datetime.now(timezone.utc)),
                overrides=store.overrides(), runs=store.runs(), history=history,
                roster=[r.student for r in store.roster()])


def write_feedback(
    grades: Sequence[Grade],
    out_dir: Path,
    *,
    title: str = "Feedback",
    overrides: Iterable[Override] = (),
    generated_at: datetime | None = None,
) -> list[Path]:
    """One page per student (their points and messages, no hidden test code or expected values).

    Pages are named like the report's student pages; ``index.csv`` maps each student id to
    their page, for whoever sends them out. No page links to another student's.
    """
    out_dir = Path(out_dir)
    when = timestamp(generated_at or datetime.now(timezone.utc))
    audited = apply_with_audit(list(grades), overrides)
    groups: dict[str, list[tuple[Grade, Any]]] = {}
    for after, audit in audited:
        groups.setdefault(after.student, []).append((after, audit))
    env = environment()
    pages = {
        page_name(student): _render(env, "feedback.html",
                                    feedback_context(student, groups[student], title=title, generated_at=when))
        for student in by_student([g for g, _ in audited])
    }
    pages["style.css"] = stylesheet()
    listing = io.StringIO(newline="")
    writer = csv.writer(listing, lineterminator="\n")
    writer.writerow(["student", "page"])
    writer.writerows([spreadsheet_safe(student), page_name(student)] for student in by_student([g for g, _ in audited]))
    pages["index.csv"] = listing.getvalue()
    for relative, text in pages.items():
        _write_atomic(out_dir / relative, text)
    return [out_dir / name for name in pages if name.endswith(".html")]


def environment(loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    """The reports' Jinja settings (autoescape, strict); `loader` lets the web app add its own templates."""
    return jinja2.Environment(
        loader=loader or jinja2.PackageLoader("grader.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(env: jinja2.Environment, context: Any, **extra: Any) -> str:
    """A page from its context, with the template TEMPLATES names for it; `extra` adds names the
    environment's own templates use (the web app's header)."""
    return _render(env, TEMPLATES[type(context)], context, **extra)


def stylesheet() -> str:
    return (resources.files("grader.reports") / "templates" / STYLESHEET).read_text("utf-8")


def _render(env: jinja2.Environment, template: str, context: Any, **extra: Any) -> str:
    # Shallow on purpose: rows stay typed objects, and StrictUndefined catches a typo in the template.
    return env.get_template(template).render({f.name: getattr(context, f.name) for f in fields(context)} | extra)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 honours the umask, unlike tempfile's private 0o600 files.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _prune(folder: Path, keep: set[str], pattern: re.Pattern[str]) -> None:
    """Remove pages no longer in the report (a student, test or run gone), and nothing else."""
    if not folder.is_dir():
        return
    for path in folder.glob("*.html"):
        if path.name not in keep and pattern.match(path.name) and path.is_file():
            path.unlink()
