"""`grade check [NOTEBOOK ...]`: the public tests on your own notebooks, with the instructor's messages."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.commands.group import console, guard, main
from grader.models import Outcome


@main.command("check")
@click.argument("notebooks", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ci", is_flag=True, help="Also write JUnit XML, a step summary, annotations and the environment.")
@click.option("--results", "results_dir", default="results", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where --ci writes its files.")
@click.option("--tests-from", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Take the public tests and points from this release checkout, not from your repo.")
@click.option("--tests-sha256", envvar="GRADE_PUBLIC_TESTS_SHA256", default="",
              help="The released tests' pinned hash; edited tests are refused.")
@click.option("--no-sandbox", is_flag=True, help="Run your notebook without the sandbox even where one exists.")
@click.option("--require-sandbox", is_flag=True, help="Fail when no sandbox is available.")
@click.option("--cell-timeout", type=float, default=60.0, show_default=True, help="Seconds per notebook cell.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds per notebook.")
def check_command(notebooks: tuple[Path, ...], ci: bool, results_dir: Path, tests_from: Path | None,
                  tests_sha256: str, no_sandbox: bool, require_sandbox: bool, cell_timeout: float,
                  timeout: float) -> None:
    """Run the public tests on NOTEBOOK(s) (default: every notebook you have started)."""
    from grader.students.check import CheckRequest, run_check
    from grader.sandbox.bwrap import Limits

    request = CheckRequest(notebooks=notebooks, start=Path.cwd(), tests_from=tests_from, tests_sha256=tests_sha256,
                           sandbox="off" if no_sandbox else "on" if require_sandbox else "auto",
                           limits=Limits(cell_timeout_s=min(cell_timeout, timeout), submission_timeout_s=timeout))
    outcome = None

    def check() -> None:
        nonlocal outcome
        outcome = run_check(request)

    guard(check)
    assert outcome is not None
    _report(outcome, ci=ci, results_dir=results_dir)
    sys.exit(0 if outcome.ok else 1)


def _report(outcome, *, ci: bool, results_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from grader.students.ci import (NotebookResult, annotations, environment_fingerprint, junit_xml, markdown_summary)

    for note in outcome.notes:
        console.print(f"[yellow]note:[/] {note}")
    out = Console()
    results = []
    for checked in outcome.checked:
        grade = checked.grade
        path = _relative(checked.target.path)
        assignment = outcome.course.assignments[checked.target.assignment]
        results.append(NotebookResult(path=path, grade=grade, names_under_test=assignment.names_under_test))
        table = Table(title=Text(f"{path}: {sum(t.points for t in grade.tests):g}/"
                            f"{sum(t.max_points for t in grade.tests):g} public points"), title_justify="left")
        for column in ("test", "part", "result", "points", "message"):
            table.add_column(column, overflow="fold", max_width=80 if column == "message" else None)
        for test in grade.tests:
            style = {Outcome.PASSED: "green", Outcome.SKIPPED: "dim"}.get(test.outcome, "red")
            # Text, not markup: a message can quote student output, which may hold [brackets]
            table.add_row(Text(test.test_id), Text(test.part), Text(test.outcome.value, style=style),
                          Text(f"{test.points:g}/{test.max_points:g}"), Text(test.message))
        out.print(table)
        if grade.message:
            out.print(f"  {grade.status.value}: {grade.message}", markup=False, highlight=False)
    total = sum(t.points for c in outcome.checked for t in c.grade.tests)
    possible = sum(t.max_points for c in outcome.checked for t in c.grade.tests)
    fingerprint = environment_fingerprint(sandboxed=outcome.sandboxed, tests_sha256=outcome.course.tests_sha256)
    console.print(f"{len(outcome.checked)} notebook(s), {total:g}/{possible:g} public points in {outcome.seconds:.1f} s; "
                  "hidden tests add the rest of each part's points (points.yaml)")
    console.print("environment: " + ", ".join(f"{k} {v}" for k, v in fingerprint.items()), markup=False,
                  highlight=False)
    if not ci:
        return
    import json

    for result in results:
        for line in annotations(result):
            print(line)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "junit.xml").write_text(junit_xml(results))
    (results_dir / "environment.json").write_text(json.dumps(fingerprint, indent=2) + "\n")
    summary = markdown_summary(results, fingerprint, list(outcome.notes))
    (results_dir / "summary.md").write_text(summary)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(summary + "\n")
    console.print(f"wrote {results_dir / 'junit.xml'}, {results_dir / 'environment.json'}, {results_dir / 'summary.md'}")


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path
