"""`grade export`: the stored grades as records for spreadsheets and scripts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader.cli import guard, main
from grader.errors import GradeError


@main.command("export")
@click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="csv", show_default=True)
def export_command(db: str, fmt: str) -> None:
    """Write one record per (student, assignment) to stdout."""
    from grader.export import export_records, write_export
    from grader.store import Gradebook

    def export() -> None:
        if "://" not in db and not Path(db).exists():
            raise GradeError(f"no database at {db}: run `grade PATH --db {db}` first")
        with Gradebook(db) as store:
            write_export(export_records(store.latest_grades()), fmt, sys.stdout)  # type: ignore[arg-type]

    guard(export)
