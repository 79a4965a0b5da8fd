"""The `grade` command group. Each sub-command lives in its own module under grader/commands/
and registers itself on `main`; this module only holds what they share."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click
from rich.console import Console

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


def guard(action) -> None:  # type: ignore[no-untyped-def]
    try:
        action()
    except GradeError as error:
        console.print(f"[bold red]error:[/] {error}")
        sys.exit(1)


def register_commands() -> None:
    """Import every module in grader.commands; each adds its command(s) to `main`."""
    import grader.commands

    for module in pkgutil.iter_modules(grader.commands.__path__):
        importlib.import_module(f"grader.commands.{module.name}")


register_commands()
