"""The `grade` click group and what every sub-command shares (the console, error handling).

It lives apart from `grader/cli.py` so that command modules import it without a cycle:
cli -> commands.<name> -> commands.group.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import click
from rich.console import Console
from rich.markup import escape

from grader import __version__
from grader.errors import GradeError

console = Console(stderr=True)


class DefaultCommandGroup(click.Group):
    """`grade PATH` means `grade run PATH`: the common job needs no sub-command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultCommandGroup)
@click.version_option(__version__, prog_name="grade")
def main() -> None:
    """Grade deep-learning notebooks in a sandbox; `grade PATH` grades every submission under PATH."""


def course_option(function: Callable) -> Callable:
    """`--course DIR`: the course root (course.yaml, rubrics/, reference/)."""
    return click.option("--course", "course_dir", default=".", show_default=True,
                        type=click.Path(exists=True, file_okay=False, path_type=Path),
                        help="The course root (course.yaml, rubrics/ and reference/).")(function)


def title_option(function: Callable) -> Callable:
    return click.option("--title", default=None, show_default="the title in --course's course.yaml",
                        help="The title on every page.")(function)


def course_title(course_dir: Path, title: str | None) -> str:
    """An explicit --title, else course.yaml's."""
    from grader.course.config import load_course_config

    return title or load_course_config(course_dir).title


def guard(action: Callable[[], None]) -> None:
    """Run a command's body; a GradeError (the user's or the instructor's to fix) exits 1 with its message."""
    try:
        action()
    except GradeError as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}")  # a message is text, never markup
        sys.exit(1)
