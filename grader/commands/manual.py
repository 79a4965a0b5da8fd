"""`grade manual ASSIGNMENT PART STUDENT --items a,b`: grade a written answer from the shell (no web app),
and `grade status`: where grading stands, manual grading included."""

from __future__ import annotations

from pathlib import Path

import click

from grader.commands.group import console, course_option, course_title, guard, main


@main.command("manual")
@click.argument("assignment")
@click.argument("part")
@click.argument("student")
@click.option("--items", default="", help="The rubric items to apply, by id, comma-separated (none: leave it out).")
@click.option("--adjust", "adjustment", type=float, default=0.0, show_default=True,
              help="Points added (or, negative, taken) on top of the items; the part stays within 0 and its maximum.")
@click.option("--comment", default="", help="A comment to the student (shown on their feedback page).")
@click.option("--reason", default="", help="Why the grade changes: needed to change a grade already given.")
@click.option("--by", "by", default=None, help="Who grades (default: the OS user).")
@click.option("--show", is_flag=True, help="Print the student's answer and the part's items, change nothing.")
@click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("--reports", "reports_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Report folder to refresh when it holds a report.")
@course_option
def manual_command(assignment: str, part: str, student: str, items: str, adjustment: float, comment: str,
                   reason: str, by: str | None, show: bool, db: str, reports_dir: Path, course_dir: Path) -> None:
    """Grade STUDENT's written answer PART (the rubric's `answer:` id) of ASSIGNMENT with rubric items."""
    from grader.commands.export import open_gradebook
    from grader.errors import GradeError
    from grader.reports.write import write_store_reports
    from grader.store.overrides import current_user

    def grade() -> None:
        with open_gradebook(db) as store:
            found = store.manual.result(student, assignment, part)
            if show:
                if found is None:
                    raise GradeError(f"{student} has no manual part {part!r} in {assignment}")
                click.echo(f"{found.part.name} (max {found.part.max_points:g})\n")
                click.echo(found.answer if found.answer is not None else "(no answer handed in)")
                click.echo("\nitems: " + ", ".join(f"{i.id} ({i.points:+g}: {i.description})" for i in found.part.items))
                return
            current = None if found is None else found.grade
            if current is not None and not reason.strip():
                raise GradeError(f"{student}'s {part} of {assignment} is graded already ({current.points:g} points by "
                                 f"{current.graded_by}, version {current.version}); pass --reason to regrade it")
            saved = store.manual.save(student, assignment, part, items=[i.strip() for i in items.split(",") if i.strip()],
                                      adjustment=adjustment, comment=comment, by=by or current_user(),
                                      expected_version=0 if current is None else current.version, reason=reason)
            console.print(f"{student} {assignment} {part}: {saved.points:g} points (version {saved.version}), "
                          f"by {saved.graded_by}", markup=False)
            if (reports_dir / "index.html").is_file():
                write_store_reports(store, reports_dir, title=course_title(course_dir, None))
                console.print(f"reports in {reports_dir} updated")

    guard(grade)


@main.command("status")
@click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
def status_command(db: str) -> None:
    """The latest grades as a table (overrides, manual grades and late penalties applied) and what awaits a TA."""
    from rich.console import Console

    from grader.commands.export import open_gradebook
    from grader.commands.run import _matrix_table
    from grader.reports import terminal
    from grader.store.overrides import apply_overrides

    def status() -> None:
        with open_gradebook(db) as store:
            grades = apply_overrides(store.latest_grades(), store.overrides())
            queue = store.manual.queue()
        out = Console()
        scores = terminal.matrix(grades)
        if not scores.rows:
            out.print(f"no grades in {db} yet")
            return
        out.print(_matrix_table(scores, out.width))
        if awaiting := terminal.awaiting_line(grades):
            out.print(awaiting, markup=False, soft_wrap=True)
        tally: dict[tuple[str, str, str], list[int]] = {}
        for entry in queue:
            counts = tally.setdefault((entry.assignment, entry.part, entry.part_name), [0, 0])
            counts[0] += entry.grade is not None and not entry.stale
            counts[1] += 1
        for (assignment, part, name), (graded, total) in tally.items():
            state = "done" if graded == total else "awaiting manual grading"
            out.print(f"manual grading: {assignment} {part} ({name}): {graded} of {total} graded, {state}",
                      markup=False, soft_wrap=True)

    guard(status)
