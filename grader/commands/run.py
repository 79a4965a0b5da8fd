"""`grade run PATH` (also plain `grade PATH`): grade a folder of submissions."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from grader.commands.group import console, course_option, guard, main
from grader.models import Grade, Status
from grader.reports import terminal
from grader.reports.text import clean

if TYPE_CHECKING:
    from grader.pipeline.preflight import CourseCheck


@main.command("run")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("--reports", "reports_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where the HTML reports go.")
@click.option("--timeout", type=float, default=None, show_default="course.yaml's, else 300",
              help="Wall-clock seconds per submission (each cell gets at most --cell-timeout).")
@click.option("--cell-timeout", type=float, default=None, show_default="course.yaml's, else 60",
              help="Seconds per notebook cell.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, show_default="CPU count",
              help="Sandboxes side by side; torch in each gets CPUs / jobs threads.")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="Grade on a Dask scheduler (tcp://host:8786), or local:N for a LocalCluster of N workers.")
@click.option("--no-sandbox", is_flag=True, help="Run student code unisolated (only for your own code).")
@click.option("--kernel-start", "kernel_start", type=click.Choice(["warm", "cold"]), default="warm", show_default=True,
              help="warm: fork each sandboxed kernel from a template that imported ipykernel and torch once; "
              "cold: start each through bubblewrap from scratch. The same sandbox either way. The homework's "
              "model scorers start warm too when there are more models than --jobs (the template pays from a "
              "worker's second model on).")
@click.option("--force", is_flag=True, help="Grade again even if nothing changed.")
@click.option("--recheck-course", "recheck_course", is_flag=True,
              help="Check the course before grading even where it is unchanged since it last passed (the "
              "pre-flight remembers a sound notebook assignment in ~/.cache/grade/preflight, or "
              "$GRADE_PREFLIGHT_CACHE), and remember it anew.")
@click.option("--only", multiple=True, help="Grade only these assignments (repeatable).")
@course_option
@click.option("--submitted-at", "submitted_at", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Trusted submission times: a CSV of student,assignment,submitted_at (ISO 8601 with zone; "
              "assignment * for all), as an LMS download or a collection script writes it.")
@click.option("--trust-commit-dates", is_flag=True,
              help="Take each student folder's HEAD commit date as its submission time (a course that collects "
              "by push; students can set commit dates, so only when the collection itself is trusted).")
@click.option("--verbose", is_flag=True, help="Also list every result with its message, missing ones included.")
def run_command(path: Path, db: str, reports_dir: Path, timeout: float | None, cell_timeout: float | None, jobs: int | None,
                cluster: str | None, no_sandbox: bool, kernel_start: str, force: bool, recheck_course: bool,
                only: tuple[str, ...], course_dir: Path, submitted_at: Path | None, trust_commit_dates: bool,
                verbose: bool) -> None:
    """Grade every submission under PATH, store the results, write the reports."""
    from grader.pipeline.pool import end_forkserver, start_forkserver

    if not cluster:
        start_forkserver()  # its imports (seconds) run while ours and the course load; grade_folder would start it later
    from grader.course.config import CourseDefaults
    from grader.kinds import load_course
    from grader.pipeline.folder import RunOutcome, RunRequest, cpu_count, grade_folder

    def run() -> None:
        try:
            outcome, request = grade()
        finally:
            end_forkserver()  # the command ends here either way
        _print_summary(outcome, request, verbose=verbose)

    def grade() -> tuple[RunOutcome, RunRequest]:
        course = load_course(course_dir)
        defaults = course.config.defaults if course.config else CourseDefaults()
        request = RunRequest(path=path, db=db, reports_dir=reports_dir, timeout_s=timeout or defaults.timeout_s,
                             cell_timeout_s=cell_timeout or defaults.cell_timeout_s, jobs=jobs or cpu_count(),
                             sandbox=not no_sandbox, force=force, only=frozenset(only), cluster=cluster,
                             memory_mb=defaults.memory_mb, submitted_at=submitted_at,
                             trust_commit_dates=trust_commit_dates, warm_kernels=kernel_start == "warm",
                             recheck_course=recheck_course)
        with ProgressBar() as bar:
            return grade_folder(request, course, progress=bar), request

    guard(run)


class ProgressBar:
    """A live bar: done/total, throughput and ETA from graded submissions only.

    Reused results complete at once; counting them in the rate would promise an ETA
    the real grading cannot keep, so they move the bar but not the clock.
    """

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TextColumn("{task.fields[eta]}"), console=console, transient=False)
        self.task = self.progress.add_task("discovering", total=None, rate="", eta="", start=False)
        self.reused = 0
        self.graded = 0
        self.total = 0
        self.first_result_at: float | None = None
        self.started_at = time.monotonic()

    def __enter__(self) -> "ProgressBar":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def phase(self, description: str) -> None:
        self.progress.update(self.task, description=description)

    def start(self, total: int) -> None:
        self.total = total
        self.started_at = time.monotonic()
        self.progress.update(self.task, total=total, description="grading")
        self.progress.start_task(self.task)

    def advance(self, grade: Grade, reused: bool) -> None:
        if reused:
            self.reused += 1
            self.started_at = time.monotonic()  # grading proper starts after the reused ones
        else:
            self.graded += 1
        left = self.total - self.reused - self.graded
        rate = eta = ""
        elapsed = time.monotonic() - self.started_at
        if self.graded and elapsed > 0:
            per_second = self.graded / elapsed
            rate = f"{per_second * 60:.1f}/min"
            eta = f"eta {_clock(left / per_second)}" if left else ""
        if self.reused:
            rate = f"{self.reused} reused · {rate}" if rate else f"{self.reused} reused"
        self.progress.update(self.task, advance=1, rate=rate, eta=eta)


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def _print_summary(outcome, request, *, verbose: bool = False) -> None:  # type: ignore[no-untyped-def]
    """The matrix of scores, then the results that were not graded and why, then the totals."""
    grades = outcome.result.grades
    out = Console()
    if verbose:
        out.print(_result_list(grades))
    scores = terminal.matrix(grades)
    if scores.rows:
        out.print(_matrix_table(scores, out.width))
    if awaiting := terminal.awaiting_line(grades):
        out.print(Text(awaiting, style="yellow"), soft_wrap=True)
    problems = terminal.problem_lines(terminal.problems(grades), out.width)
    if problems:
        out.print()
        out.print(Text("not graded:", style="bold"))
        for line in problems:
            out.print(Text(line, style="yellow"), soft_wrap=True)
    if outcome.missing_students:
        console.print(f"{len(outcome.missing_students)} roster student(s) handed in nothing (recorded as missing): "
                      f"{', '.join(outcome.missing_students)}", markup=False, style="yellow")
    if outcome.untimed:
        console.print(f"{outcome.untimed} hand-in(s) have a due time but no trusted submission time (--submitted-at): "
                      "counted as on time", markup=False, style="yellow")
    if outcome.strangers:
        console.print(f"{len(outcome.strangers)} graded student(s) not on the roster (graded and flagged in the "
                      f"report): {', '.join(outcome.strangers)}", markup=False, style="yellow")
    if remembered := course_note(outcome.result.course_check):
        console.print(remembered, markup=False, style="dim")
    console.print(
        f"{outcome.result.graded} graded, {outcome.result.reused} unchanged (reused) in "
        f"{outcome.result.seconds:.1f} s; database {outcome.db}; report {outcome.index}"
    )
    console.print(stage_summary(outcome.stages, request))


_CELL_STYLE = {Status.GRADED: "", Status.MISSING: "dim"}


def _matrix_table(scores: terminal.Matrix, width: int) -> Table:
    # collapse_padding: columns terminal.GAP (2) apart, as Matrix.header counts them
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    first, *labels = scores.header(width)
    table.add_column(first, no_wrap=True)
    for label in labels:
        table.add_column(label, justify="right", no_wrap=True)
    for student, cells in scores.rows:
        table.add_row(Text(student), *(Text(c.text, style=_CELL_STYLE.get(c.status, "yellow")) for c in cells))
    return table


def _result_list(grades: Iterable[Grade]) -> Table:
    """Every result on its own row, as `grade PATH` printed before the matrix (--verbose)."""
    table = Table(title="grade summary", show_lines=False)
    for column in ("student", "assignment", "status", "score", "message"):
        table.add_column(column, overflow="fold", max_width=70 if column == "message" else None)
    for grade in sorted(grades, key=lambda g: (g.student, g.assignment)):
        table.add_row(Text(clean(grade.student)), Text(clean(grade.assignment)), grade.status.value,
                      f"{grade.final_score:g}/{grade.max_score:g}", Text(clean(grade.message[:200])),
                      style=_CELL_STYLE.get(grade.status, "yellow"))
    return table


def course_note(check: CourseCheck) -> str:
    """One line naming the assignments whose pre-flight a stamp vouched for, and since when; "" if none."""
    if not check.remembered:
        return ""
    since = "; ".join(f"{name} unchanged since {when.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"
                      for name, when in sorted(check.remembered.items()))
    return f"course checked: {since} (it passed then; --recheck-course checks it again)"


def stage_summary(stages: dict[str, float], request) -> str:  # type: ignore[no-untyped-def]
    """One line: seconds per stage. Worker stages are summed over the jobs running side by side."""
    from grader.pipeline.stopwatch import STAGES

    where = f"cluster {request.cluster}" if request.cluster else f"{request.jobs} jobs"
    parts = [f"{stage} {stages[stage]:.1f} s" for stage in STAGES if stage in stages]
    return f"time per stage (summed over {where}): " + " · ".join(parts)
