"""`grade users add|list|remove`: the accounts that may log in to `grade serve`."""

from __future__ import annotations

import sys

import click

from grader.commands.group import console, guard, main

DB = click.option("--db", default="grade.db", show_default=True, help="SQLite file or SQLAlchemy URL.")


@main.group("users")
def users_group() -> None:
    """Accounts of the web app (`grade serve`): instructors and TAs."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["instructor", "ta"]), required=True, help="What the account is for.")
@DB
def add_command(name: str, role: str, db: str) -> None:
    """Add NAME; the password is asked twice on a terminal, else read as one line from stdin."""
    from grader.store.accounts import check_name, check_password
    from grader.store.gradebook import Gradebook

    def add() -> None:
        check_name(name)
        password = read_password()
        check_password(password)
        with Gradebook(db) as book:
            user = book.accounts.add_user(name, role, password)
        console.print(f"added {user.role.value} {user.name}; `grade serve --db {db}` lets them log in")

    guard(add)


def read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    return sys.stdin.readline().rstrip("\r\n")  # a script: `printf '%s\n' "$PASSWORD" | grade users add ...`


@users_group.command("list")
@DB
def list_command(db: str) -> None:
    """Every account: name, role, when it was made."""
    from grader.commands.export import open_gradebook
    from grader.reports.text import timestamp

    def listing() -> None:
        with open_gradebook(db) as book:
            found = book.accounts.users()
        if not found:
            console.print(f"no accounts in {db}: `grade users add NAME --role ta` makes one")
        for user in found:
            click.echo(f"{user.name}\t{user.role.value}\t{timestamp(user.created_at)}")

    guard(listing)


@users_group.command("remove")
@click.argument("name")
@DB
def remove_command(name: str, db: str) -> None:
    """Remove NAME; their open sessions end at once."""
    from grader.commands.export import open_gradebook

    def remove() -> None:
        with open_gradebook(db) as book:
            ended = book.accounts.remove_user(name)
        console.print(f"removed {name}; {ended} open session{'s' * (ended != 1)} ended")

    guard(remove)
