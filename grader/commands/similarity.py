"""`grade similarity PATH --assignment A`: pairs of students whose own code is alike, for a person to read."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.markup import escape

from grader.commands.group import console, course_option, course_title, guard, main, title_option
from grader.errors import GradeError


@main.command("similarity")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--assignment", required=True, help="The assignment to compare, e.g. 05_attention_mechanism.")
@course_option
@click.option("--archive", "archives", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="An earlier term's submissions folder (same layout), compared with this term's students "
              "(never with each other); may be given more than once.")
@click.option("--format", "fmt", type=click.Choice(["html", "json"]), default="html", show_default=True,
              help="html: a page with the flagged pairs side by side; json: every pair, highest score first.")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=None, show_default="0.5",
              help="Pairs scoring this or more (0..1) are flagged for a person to look at.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (html default: reports/similarity/ASSIGNMENT.html; json default: stdout).")
@title_option
def similarity_command(path: Path, assignment: str, course_dir: Path, archives: tuple[Path, ...], fmt: str,
                       threshold: float | None, out: Path | None, title: str | None) -> None:
    """Pairs of submissions whose own code is alike (starter code and reference excluded): a flag, never a penalty."""
    from grader.kinds import load_course
    from grader.reports.text import SIMILARITY_DIR, clean
    from grader.similarity.page import write_page
    from grader.similarity.run import DEFAULT_THRESHOLD, MAX_SHOWN_PAIRS, find_similar, pairs_json

    def run() -> None:
        course = load_course(course_dir)
        if assignment not in course.assignments:
            raise GradeError(f"no assignment {assignment!r} in {course.root}; one of: {', '.join(course.assignments)}")
        cutoff = DEFAULT_THRESHOLD if threshold is None else threshold
        with _progress() as track:
            result = find_similar(path, course.assignments[assignment], course, threshold=cutoff,
                                  archives=archives, shown=0 if fmt == "json" else MAX_SHOWN_PAIRS, track=track)
        for skipped in result.skipped:
            # a student id and the reason are the student's text, never markup
            console.print(f"[yellow]not compared:[/] {escape(clean(skipped.student))}: {escape(clean(skipped.reason))}",
                          highlight=False)
        console.print(f"{result.students} students, {len(result.pairs)} pairs, {len(result.flagged)} at or above "
                      f"{cutoff:.2f}: a flag for a person to read the code, never a penalty", highlight=False)
        if fmt == "json":
            text = pairs_json(result.pairs) + "\n"
            if out is None:
                sys.stdout.write(text)
            else:
                out.write_text(text, encoding="utf-8")
            return
        page = write_page(result, out or Path("reports") / SIMILARITY_DIR / f"{assignment}.html",
                          title=course_title(course_dir, title))
        console.print(f"similarity page {page}", highlight=False)

    guard(run)


@contextmanager
def _progress() -> Iterator[Callable[[str, int], Callable[[], None]]]:
    """A rich progress bar per stage on stderr (nothing when stderr is not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as progress:

        def track(what: str, total: int) -> Callable[[], None]:
            task = progress.add_task(what, total=total)
            return lambda: progress.advance(task)

        yield track
