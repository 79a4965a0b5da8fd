"""`grade`: the console script. Each sub-command lives in its own module under grader/commands/
and registers itself on the group (grader/commands/group.py) when imported here."""

from grader.commands import (  # noqa: F401
    audit, check, env, export, feedback, manual, new, override, policy, release, report, run, serve, similarity,
    users, validate,
)
from grader.commands.group import main

__all__ = ["main"]
