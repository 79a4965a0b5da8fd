"""`grade validate [ASSIGNMENT ...]`: the course checked before students see it (grader/validate/)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from grader.commands.group import console, course_option, guard, main
from grader.models import Grade


@main.command("validate")
@click.argument("assignments", nargs=-1)
@course_option
@click.option("--jobs", type=click.IntRange(min=1), default=None, show_default="CPU count",
              help="Sandboxes side by side while an assignment's reference and mutants are graded.")
@click.option("--no-sandbox", is_flag=True,
              help="Run the reference and its mutants unisolated (they are your own code; no student's is run).")
@click.option("--quick", is_flag=True,
              help="Only the checks that run no notebook: rubric and tests, the pre-flight, the release, "
                   "mutants.yaml and the last audit (seconds instead of minutes).")
def validate_command(assignments: tuple[str, ...], course_dir: Path, jobs: int | None, no_sandbox: bool,
                     quick: bool) -> None:
    """Check each assignment (all when none are named): rubric and tests agree, the reference gets full
    marks and the released notebook 0, the release leaks nothing hidden, every mutant of mutants.yaml
    fails exactly its tests. One line per problem and exit 1; an ok line per sound assignment."""
    from grader.kinds import load_course
    from grader.pipeline.pool import cpu_count
    from grader.validate.findings import Severity
    from grader.validate.steps import ValidateOptions, validate_course

    def validate() -> None:
        course = load_course(course_dir)
        options = ValidateOptions(names=assignments, jobs=jobs or cpu_count(), sandbox=not no_sandbox,
                                  grade=not quick)
        with ValidateBar() as bar:
            report = validate_course(course, options, bar)
        for finding in report.course:
            click.echo(finding.line())
        for result in report.assignments:
            for finding in result.findings:
                click.echo(finding.line())
            if not result.problems:
                click.echo(f"{result.name}: ok ({result.summary})")
        problems = sum(len(r.problems) for r in report.assignments) + sum(
            f.severity is Severity.PROBLEM for f in report.course)
        console.print(f"{len(report.assignments)} assignment(s) checked in {report.seconds:.1f} s; "
                      + (f"[red]{problems} problem(s)[/]" if problems else "[green]no problems[/]"))
        if not report.ok:
            sys.exit(1)

    guard(validate)


class ValidateBar:
    """One line per assignment: its current step, then its class graded (done/total); a ValidateProgress."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("[bold]{task.fields[assignment]}"), TextColumn("{task.description}"),
                                 BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                                 transient=True)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> "ValidateBar":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def _task(self, assignment: str) -> TaskID:
        if assignment not in self.tasks:
            self.tasks[assignment] = self.progress.add_task("", total=None, assignment=escape(assignment))
        return self.tasks[assignment]

    def phase(self, assignment: str, description: str) -> None:
        self.progress.update(self._task(assignment), description=escape(description))

    def start(self, assignment: str, total: int) -> None:
        self.progress.update(self._task(assignment), total=total, completed=0, description="grading")

    def advance(self, assignment: str, grade: Grade) -> None:
        self.progress.update(self._task(assignment), advance=1)
