"""`grade override STUDENT ASSIGNMENT [TEST] --points N --reason TEXT`: fix a grade by hand, on record."""

from __future__ import annotations

from pathlib import Path

import click

from grader.commands.group import console, course_option, course_title, guard, main


@main.command("override")
@click.argument("student")
@click.argument("assignment")
@click.argument("test", required=False)
@click.option("--points", "points", type=float, required=True,
              help="The new points of TEST, or of the whole ASSIGNMENT when TEST is left out.")
@click.option("--reason", required=True, help="Why: kept in the audit trail and shown in the reports.")
@click.option("--by", "by", default=None, help="Who made the change (default: the OS user).")
@click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("--reports", "reports_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Report folder to refresh when it holds a report.")
@course_option
def override_command(student: str, assignment: str, test: str | None, points: float, reason: str,
                     by: str | None, db: str, reports_dir: Path, course_dir: Path) -> None:
    """Record a new score (the computed one is kept); reports show it and exports apply it."""
    from grader.commands.export import open_gradebook
    from grader.store.overrides import current_user
    from grader.reports.write import write_store_reports

    def override() -> None:
        with open_gradebook(db) as store:
            made = store.add_override(student, assignment, test, points, reason=reason, created_by=by or current_user())
            target = f"{assignment} {test}" if test else assignment
            console.print(f"override {made.id}: {student} {target}: {made.original_points:g} → {made.points:g} "
                          f"points, by {made.created_by}")
            if (reports_dir / "index.html").is_file():
                write_store_reports(store, reports_dir, title=course_title(course_dir, None))
                console.print(f"reports in {reports_dir} updated")

    guard(override)
