"""`grade policy`: the course's roster, deadlines, extensions and late policy over the stored grades, no notebook
run (grader/pipeline/policy.py)."""

from __future__ import annotations

from pathlib import Path

import click

from grader.commands.group import console, course_option, guard, main


@main.command("policy")
@click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("--reports", "reports_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where the HTML reports go.")
@course_option
@click.option("--submitted-at", "submitted_at", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Trusted submission times (student,assignment,submitted_at); without it, the times stored before.")
def policy_command(db: str, reports_dir: Path, course_dir: Path, submitted_at: Path | None) -> None:
    """Apply a changed course.yaml (deadlines, late_policy), extensions.csv or roster.csv to the stored grades."""
    from grader.commands.export import open_gradebook
    from grader.kinds import load_course
    from grader.pipeline.policy import load_policy, reapply
    from grader.reports.write import write_store_reports

    def apply() -> None:
        course = load_course(course_dir)
        policy = load_policy(course, submitted_at=submitted_at)
        with open_gradebook(db) as store:
            outcome = reapply(store, course, policy)
            index = write_store_reports(store, reports_dir, title=course.title, assignments=course.assignments)
        if outcome.run_id is None:
            console.print(f"nothing changed; report {index}")
        else:
            console.print(f"run {outcome.run_id}: {outcome.changed} result(s) with a new lateness, {outcome.added} "
                          f"missing result(s) added for roster students; report {index}")

    guard(apply)
