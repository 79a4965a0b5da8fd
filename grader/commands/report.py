"""`grade report`: write the HTML reports again from the database, without grading anything."""

from __future__ import annotations

from pathlib import Path

import click

from grader.commands.group import console, course_option, course_title, guard, main, title_option


@main.command("report")
@click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("--reports", "reports_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where the HTML reports go.")
@title_option
@course_option
def report_command(db: str, reports_dir: Path, title: str | None, course_dir: Path) -> None:
    """Class overview, student, test and run pages from the stored grades and overrides."""
    from grader.commands.export import open_gradebook
    from grader.reports.write import write_store_reports

    def report() -> None:
        with open_gradebook(db) as store:
            index = write_store_reports(store, reports_dir, title=course_title(course_dir, title))
        console.print(f"report {index}")

    guard(report)
