"""`grade export`: the stored grades, overrides and late penalties applied, for spreadsheets, an LMS or Gradescope."""

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
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "gradebook", "gradescope", "canvas", "moodle"]),
              default="csv", show_default=True,
              help="csv/json: one record per (student, assignment); canvas/moodle: the CSV each LMS's grade import "
              "takes (roster ids, final scores); gradebook: one row per student; gradescope: results.json per "
              "submission (needs --out).")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="File to write (default stdout); for gradescope, the folder to fill.")
def export_command(db: str, fmt: str, out: Path | None) -> None:
    """Export the latest grades with every override and late penalty applied."""
    from grader.export import (export_records, write_canvas, write_export, write_gradebook, write_gradescope,
                               write_moodle)
    from grader.store.overrides import apply_overrides

    def export() -> None:
        with open_gradebook(db) as store:
            grades = apply_overrides(store.latest_grades(), store.overrides())
            roster = store.roster()
            canvas_ids = store.canvas_assignments()
        if fmt == "gradescope":
            if out is None:
                raise GradeError("--format gradescope writes one results.json per submission: pass --out DIR")
            written = write_gradescope(grades, out)
            console.print(f"{len(written)} results.json files under {out} (manifest.json maps them to students)")
            return
        stream = sys.stdout if out is None else open(out, "w", encoding="utf-8", newline="")
        try:
            left_out: list[str] = []
            if fmt == "gradebook":
                write_gradebook(grades, stream)
            elif fmt == "canvas":
                left_out = write_canvas(grades, stream, roster=roster, canvas_ids=canvas_ids)
            elif fmt == "moodle":
                left_out = write_moodle(grades, stream, roster=roster)
            else:
                write_export(export_records(grades, [r.student for r in roster]), fmt, stream)  # type: ignore[arg-type]
        finally:
            if out is not None:
                stream.close()
        if left_out:
            console.print(f"warning: {len(left_out)} graded student(s) not on the roster are left out of the {fmt} "
                          f"file (the LMS knows no such user): {', '.join(left_out)}; "
                          "`grade export --format csv` lists them with on_roster false", markup=False)

    guard(export)
