"""`grade users add|list|remove` through click, on a real gradebook."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from grader.cli import main
from grader.store.gradebook import Gradebook

PASSWORD = "correct horse battery"


def grade(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]  # noqa: A002 - click's name
    return CliRunner().invoke(main, list(args), input=input)


def test_add_list_remove(tmp_path: Path) -> None:
    db = str(tmp_path / "grade.db")
    added = grade("users", "add", "tara", "--role", "ta", "--db", db, input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert "added ta tara" in added.output and PASSWORD not in added.output
    assert grade("users", "add", "ingrid", "--role", "instructor", "--db", db, input=PASSWORD).exit_code == 0

    with sqlite3.connect(db) as raw:
        stored = dict(raw.execute("SELECT name, password_hash FROM users").fetchall())
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in stored.values())
    with Gradebook(db) as book:
        assert book.accounts.check_password("tara", PASSWORD) is not None
        token = book.accounts.start_session(book.accounts.user("tara"))  # type: ignore[arg-type]

    listed = grade("users", "list", "--db", db)
    assert listed.exit_code == 0
    rows = [line.split("\t")[:2] for line in listed.stdout.splitlines()]
    assert rows == [["ingrid", "instructor"], ["tara", "ta"]]

    removed = grade("users", "remove", "tara", "--db", db)
    assert removed.exit_code == 0 and "1 open session ended" in removed.output
    with Gradebook(db) as book:
        assert book.accounts.session(token) is None
    assert [line.split("\t")[0] for line in grade("users", "list", "--db", db).stdout.splitlines()] == ["ingrid"]


def test_a_short_password_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    db = str(tmp_path / "grade.db")
    result = grade("users", "add", "tara", "--role", "ta", "--db", db, input="123456789\n")
    assert result.exit_code == 1 and "at least 10" in result.output
    assert grade("users", "add", "tara", "--role", "ta", "--db", db, input="").exit_code == 1  # no line at all
    assert not Path(db).exists()  # refused before the gradebook was opened


def test_mistakes_are_refused_with_what_to_do(tmp_path: Path) -> None:
    db = str(tmp_path / "grade.db")
    assert grade("users", "add", "tara", "--role", "ta", "--db", db, input=PASSWORD).exit_code == 0
    again = grade("users", "add", "tara", "--role", "ta", "--db", db, input=PASSWORD)
    assert again.exit_code == 1 and "grade users remove tara" in again.output
    assert grade("users", "add", "root", "--role", "admin", "--db", db, input=PASSWORD).exit_code == 2
    assert "not a usable user name" in grade("users", "add", "a b", "--role", "ta", "--db", db, input=PASSWORD).output
    gone = grade("users", "remove", "nobody", "--db", db)
    assert gone.exit_code == 1 and "grade users list" in gone.output
    missing = grade("users", "list", "--db", str(tmp_path / "typo.db"))
    assert missing.exit_code == 1 and "no database" in missing.output
