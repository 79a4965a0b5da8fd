"""`grade`: the console script. Each sub-command lives in its own module under grader/commands/
and registers itself on the group (grader/commands/group.py) when imported here."""

from grader.commands import check, export, feedback, override, release, report, run, serve, similarity, users  # noqa: F401
from grader.commands.group import main

__all__ = ["main"]
