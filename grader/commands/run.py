"""`grade run PATH` (also plain `grade PATH`): grade a folder of submissions."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from grader.cli import console, guard, main


@main.command("run")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("--reports", "reports_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where the HTML reports go.")
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="Wall-clock seconds per submission (each cell gets at most --cell-timeout).")
@click.option("--cell-timeout", type=float, default=60.0, show_default=True, help="Seconds per notebook cell.")
@click.option("--jobs", type=int, default=os.cpu_count() or 1, show_default="CPU count",
              help="Sandboxes side by side.")
@click.option("--no-sandbox", is_flag=True, help="Run student code unisolated (only for your own code).")
@click.option("--force", is_flag=True, help="Grade again even if nothing changed.")
@click.option("--only", multiple=True, help="Grade only these assignments (repeatable).")
@click.option("--course", "course_dir", default=".", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The course repository (holding rubrics/ and reference/).")
def run_command(path: Path, db: str, reports_dir: Path, timeout: float, cell_timeout: float, jobs: int,
                no_sandbox: bool, force: bool, only: tuple[str, ...], course_dir: Path) -> None:
    """Grade every submission under PATH, store the results, write the reports."""
    from grader.run import RunRequest, grade_folder

    request = RunRequest(path=path, db=db, reports_dir=reports_dir, timeout_s=timeout,
                         cell_timeout_s=cell_timeout, jobs=jobs, sandbox=not no_sandbox, force=force,
                         only=frozenset(only), course_dir=course_dir)
    guard(lambda: _print_summary(grade_folder(request, progress=_progress())))


def _progress() -> Progress:
    return Progress(TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console,
                    transient=False)


def _print_summary(outcome) -> None:  # type: ignore[no-untyped-def]
    table = Table(title="grade summary", show_lines=False)
    for column in ("student", "assignment", "status", "score", "message"):
        table.add_column(column, overflow="fold", max_width=70 if column == "message" else None)
    for grade in sorted(outcome.result.grades, key=lambda g: (g.student, g.assignment)):
        style = {"graded": "", "missing": "dim"}.get(grade.status.value, "yellow")
        table.add_row(grade.student, grade.assignment, grade.status.value,
                      f"{grade.score:g}/{grade.max_score:g}", grade.message[:200], style=style)
    Console().print(table)
    console.print(
        f"{outcome.result.graded} graded, {outcome.result.reused} unchanged (reused) in "
        f"{outcome.result.seconds:.1f} s; database {outcome.db}; report {outcome.index}"
    )
