"""`grade export`: the stored grades, overrides applied, for spreadsheets, an LMS or Gradescope."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader.commands.group import console, guard, main
from grader.errors import GradeError


def open_gradebook(db: str):  # type: ignore[no-untyped-def]
    """The gradebook at `db`, refusing to create an empty one where the user made a typo."""
    from grader.store.gradebook import Gradebook

    if "://" not in db and not Path(db).exists():
        raise GradeError(f"no database at {db}: run `grade PATH --db {db}` first")
    return Gradebook(db)


@main.command("export")
@click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "gradebook", "gradescope"]), default="csv",
              show_default=True, help="csv/json: one record per (student, assignment); gradebook: one row per "
              "student for Canvas/Moodle; gradescope: results.json per submission (needs --out).")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="File to write (default stdout); for gradescope, the folder to fill.")
def export_command(db: str, fmt: str, out: Path | None) -> None:
    """Export the latest grades with every override applied."""
    from grader.export import export_records, write_export, write_gradebook, write_gradescope
    from grader.store.overrides import apply_overrides

    def export() -> None:
        with open_gradebook(db) as store:
            grades = apply_overrides(store.latest_grades(), store.overrides())
        if fmt == "gradescope":
            if out is None:
                raise GradeError("--format gradescope writes one results.json per submission: pass --out DIR")
            written = write_gradescope(grades, out)
            console.print(f"{len(written)} results.json files under {out} (manifest.json maps them to students)")
            return
        stream = sys.stdout if out is None else open(out, "w", encoding="utf-8", newline="")
        try:
            if fmt == "gradebook":
                write_gradebook(grades, stream)
            else:
                write_export(export_records(grades), fmt, stream)  # type: ignore[arg-type]
        finally:
            if out is not None:
                stream.close()

    guard(export)
