"""`grade new ASSIGNMENT`: scaffold a working assignment in the course (grader/course/scaffold.py)."""

from __future__ import annotations

from pathlib import Path

import click

from grader.commands.group import console, guard, main
from grader.course.scaffold import ScaffoldKind


@main.command("new")
@click.argument("assignment")
@click.option("--kind", type=click.Choice([k.value for k in ScaffoldKind]), default=ScaffoldKind.NOTEBOOK.value,
              show_default=True, help="notebook: hidden tests on a notebook; model: a saved model scored on a "
                                      "held-out set.")
@click.option("--course", "course_dir", default=".", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="The course root (created when it does not exist).")
def new_command(assignment: str, kind: str, course_dir: Path) -> None:
    """Scaffold ASSIGNMENT: reference, tests, rubric and mutants.yaml that pass `grade validate`."""
    from grader.course.scaffold import new_assignment
    from grader.errors import course_file

    def new() -> None:
        scaffold = new_assignment(course_dir, assignment, ScaffoldKind(kind))
        for path in scaffold.written:
            if path.name != "course.yaml":  # said below, with what happened to it
                console.print(f"  wrote {course_file(path)}")
        console.print(f"  {scaffold.course_yaml}")
        if kind == ScaffoldKind.MODEL:
            console.print("[yellow]next:[/] replace the made-up rows of the CSV files under data/ with your "
                          "held-out and training data, and set `labels:` and `scoring:` in the rubric")
        else:
            console.print("[yellow]next:[/] write the exercise in the reference notebook, its tests, and the "
                          "mistakes they must catch in mutants.yaml")
        console.print(f"then run `grade validate {assignment}` before students see it")

    guard(new)
