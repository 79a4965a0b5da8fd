"""`grade audit ASSIGNMENT`: mutation testing of an assignment's hidden tests (grader/audit/)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from grader.commands.group import console, course_option, guard, main


@main.command("audit")
@click.argument("assignment")
@course_option
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Sandboxes side by side (probes and grading).")
@click.option("--max-mutants", type=click.IntRange(min=1), default=None, show_default="40",
              help="Audit at most this many mutants, drawn with --seed across operators.")
@click.option("--seed", type=int, default=0, show_default=True, help="The seed of the sample.")
@click.option("--operators", default="", metavar="NAMES",
              help="Comma-separated operators to use (default: all; see grader/audit/operators.py).")
@click.option("--timeout", type=float, default=None, show_default="course.yaml's, else 300",
              help="Wall-clock seconds per mutant's notebook.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the full report here.")
@click.option("--no-sandbox", is_flag=True, help="Run the mutants unisolated (no bubblewrap here).")
def audit_command(assignment: str, course_dir: Path, jobs: int, max_mutants: int | None, seed: int, operators: str,
                  timeout: float | None, json_path: Path | None, no_sandbox: bool) -> None:
    """Mutate the reference's solutions and measure how many mutants the tests catch."""
    from grader.audit.record import record_path, write_record
    from grader.audit.run import DEFAULT_MAX_MUTANTS, AuditOptions, Progress as Callbacks, run_audit
    from grader.course.config import CourseDefaults
    from grader.course.environment import kernel_interpreter
    from grader.kinds import load_course
    from grader.pipeline.folder import torch_threads
    from grader.sandbox import bwrap
    from grader.sandbox.limits import MiB, Limits

    def audit() -> None:
        course = load_course(course_dir)
        defaults = course.config.defaults if course.config else CourseDefaults()
        seconds = timeout or defaults.timeout_s
        limits = Limits(submission_timeout_s=seconds, cell_timeout_s=min(defaults.cell_timeout_s, seconds),
                        memory_bytes=defaults.memory_mb * MiB, torch_threads=torch_threads(jobs, None))
        kernel = None
        if not no_sandbox:
            bwrap.probe(limits)
            kernel = kernel_interpreter(course.config)  # mutants run where students' notebooks run
        options = AuditOptions(jobs=jobs, max_mutants=max_mutants or DEFAULT_MAX_MUTANTS, seed=seed,
                               operators=tuple(o.strip() for o in operators.split(",") if o.strip()),
                               sandbox=not no_sandbox, limits=limits, kernel=kernel)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("generating mutants", total=None)

            def phase(description: str, total: int) -> None:
                bar.update(task, description=description, total=total or None, completed=0)

            report = run_audit(course, assignment, options,
                               Callbacks(phase=phase, advance=lambda: bar.advance(task)))
        record = write_record(report, record_path(report, course.root))
        if json_path is not None:
            write_record(report, json_path)
        _print(report, record)

    guard(audit)


def _diff_text(diff: str) -> Text:
    """A unified diff, removed lines red, added green; never cropped to the terminal."""
    text = Text()
    for line in diff.splitlines():
        style = "bold" if line.startswith(("---", "+++")) else "red" if line.startswith("-") else \
            "green" if line.startswith("+") else "cyan" if line.startswith("@@") else ""
        text.append(line + "\n", style=style)
    return text


def _costs_table(report) -> Table:  # type: ignore[no-untyped-def]
    """Each caught mutant's loss in its part (where it lost the most points) and in the notebook."""
    table = Table(title=f"what each caught mutant costs (of {report.max_score:g} points)")
    for column in ("mutant", "part", "lost", "share of part", "share of notebook"):
        table.add_column(column, justify="left" if column in ("mutant", "part") else "right")
    for result in sorted(report.caught, key=report.share_of_notebook):
        m, part = result.mutant, result.part
        where = f" in {m.scope}" if m.scope else f" (code cell {m.cell})"
        more = len(result.part_losses) - 1
        table.add_row(escape(f"{m.id} {m.operator}{where}: {m.description}"),
                      escape(part.part + (f" (+{more} more)" if more > 0 else "")) if part else "-",
                      f"{part.lost:g}/{part.points:g}" if part else f"{result.points_lost:g}",
                      f"{part.share:.0%}" if part else "-", f"{report.share_of_notebook(result):.0%}")
    return table


def _print(report, record: Path) -> None:  # type: ignore[no-untyped-def]
    from grader.audit.record import loss_bands

    out = Console()
    if report.sampled:
        out.print(f"[yellow]sampled:[/] {len(report.results)} of {report.generated} mutants (seed {report.seed}; "
                  "--max-mutants to audit more)")
    for note in report.notes:
        out.print(f"[yellow]note:[/] {escape(note)}")
    for survivor in report.survivors:
        m = survivor.mutant
        out.print(f"\n[bold red]survived[/] {m.operator}: {escape(m.description)} "
                  f"(code cell {m.cell}, line {m.line}{', in ' + m.scope if m.scope else ''})")
        out.print(_diff_text(m.diff()), soft_wrap=True)
        tests = ", ".join(survivor.tests) if survivor.tests else f"no test mentions {m.scope or 'this cell'}"
        out.print(f"  should have failed: {escape(tests)}")
        if survivor.parts:
            out.print(f"  in part(s): {escape(', '.join(survivor.parts))} (it loses 0 points)")
    if report.equivalent:
        out.print(f"\ndropped as equivalent ({len(report.equivalent)}; the same values as the reference wherever "
                  "the probe looked, diffs in the record):")
        for result in report.equivalent:
            m = result.mutant
            out.print(f"  {m.operator}: {escape(m.description)} (code cell {m.cell}, line {m.line})")
    if report.caught:
        out.print(_costs_table(report))
    table = Table(title=f"audit of {report.assignment}")
    for column in ("operator", "audited", "equivalent", "graded", "caught", "score"):
        table.add_column(column, justify="left" if column == "operator" else "right")
    for name, (audited, equivalent, graded, caught) in report.by_operator().items():
        table.add_row(name, str(audited), str(equivalent), str(graded), str(caught),
                      f"{caught / graded:.0%}" if graded else "-")
    table.add_row("[bold]all", str(len(report.results)), str(len(report.equivalent)), str(len(report.graded)),
                  str(len(report.caught)), f"[bold]{report.mutation_score:.0%}")
    out.print(table)
    bands = ", ".join(f"{count} lose {band}" for band, count in loss_bands(report).items())
    out.print(f"points lost by the {len(report.caught)} caught mutants (of {report.max_score:g}): {bands}")
    if report.caught:
        small = len(report.small_losses)
        out.print(f"caught mutants losing < 10% of the notebook: {small / len(report.caught):.0%} "
                  f"({small} of {len(report.caught)})")
    console.print(f"mutation score {report.mutation_score:.1%} ({len(report.caught)} caught of {len(report.graded)} "
                  f"graded; {len(report.equivalent)} equivalent dropped; {report.generated} generated; "
                  f"{report.reused} grades reused) in {report.seconds:.0f} s with {report.jobs} jobs; record {record}")
