"""`grade feedback --out DIR`: one page per student to send them, no hidden tests or expected values."""

from __future__ import annotations

from pathlib import Path

import click

from grader.commands.group import console, course_option, course_title, guard, main, title_option


@main.command("feedback")
@click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the pages (one per student) and index.csv mapping students to pages.")
@title_option
@course_option
def feedback_command(db: str, out: Path, title: str | None, course_dir: Path) -> None:
    """Write each student's points and messages, overrides applied, to a page of their own."""
    from grader.commands.export import open_gradebook
    from grader.reports.write import write_feedback

    def feedback() -> None:
        with open_gradebook(db) as store:
            grades, overrides = store.latest_grades(), store.overrides()
        pages = write_feedback(grades, out, title=course_title(course_dir, title), overrides=overrides)
        console.print(f"{len(pages)} feedback pages in {out}; index.csv says whose is which")

    guard(feedback)
