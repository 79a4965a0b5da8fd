"""The web app's accounts and sessions in the gradebook (grader/store/accounts.py)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from grader.errors import GradeError
from grader.store.accounts import Role, token_hash
from grader.store.gradebook import Gradebook

PASSWORD = "correct horse battery"


def test_a_user_is_stored_with_an_argon2_hash_and_checked_against_it(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.db") as book:
        tara = book.accounts.add_user("tara", "ta", PASSWORD)
        assert (tara.name, tara.role) == ("tara", Role.TA)
        assert book.accounts.check_password("tara", PASSWORD) == tara
        assert book.accounts.check_password("tara", PASSWORD + " ") is None
        assert book.accounts.check_password("Tara", PASSWORD) is None
        assert book.accounts.check_password("nobody", PASSWORD) is None
        assert book.accounts.check_password("tara", "x" * 5000) is None
        assert [u.name for u in book.accounts.users()] == ["tara"] and book.accounts.count() == 1
    with sqlite3.connect(tmp_path / "g.db") as raw:
        (stored,) = raw.execute("SELECT password_hash FROM users").fetchone()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and PASSWORD not in stored


@pytest.mark.parametrize("name, role, password, message", [
    ("tara", "ta", "short", "at least 10"),
    ("tara", "admin", PASSWORD, "unknown role"),
    ("", "ta", PASSWORD, "not a usable user name"),
    ("ta ra", "ta", PASSWORD, "not a usable user name"),
    ("<script>", "ta", PASSWORD, "not a usable user name"),
    ("x" * 65, "ta", PASSWORD, "not a usable user name"),
])
def test_bad_accounts_are_refused_with_the_rule(tmp_path: Path, name: str, role: str, password: str,
                                                message: str) -> None:
    with Gradebook(tmp_path / "g.db") as book:
        with pytest.raises(GradeError, match=message):
            book.accounts.add_user(name, role, password)
        assert book.accounts.users() == []


def test_a_name_is_taken_once(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.db") as book:
        book.accounts.add_user("tara", "ta", PASSWORD)
        with pytest.raises(GradeError, match="already a user 'tara'"):
            book.accounts.add_user("tara", "instructor", PASSWORD)


def test_sessions_are_kept_as_hashes_and_end(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.db") as book:
        tara = book.accounts.add_user("tara", "ta", PASSWORD)
        token = book.accounts.start_session(tara)
        found = book.accounts.session(token)
        assert found is not None and found.user == tara and found.expires_at - found.created_at == timedelta(hours=12)
        assert book.accounts.session(token + "x") is None and book.accounts.session("") is None
        book.accounts.end_session(token)
        assert book.accounts.session(token) is None

        expired = book.accounts.start_session(tara, ttl=timedelta(seconds=-1))
        assert book.accounts.session(expired) is None
        live = book.accounts.start_session(tara)  # and a new session clears the expired rows out
    with sqlite3.connect(tmp_path / "g.db") as raw:
        assert raw.execute("SELECT token_sha256 FROM web_sessions").fetchall() == [(token_hash(live),)]


def test_removing_a_user_ends_their_sessions(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "g.db") as book:
        tara = book.accounts.add_user("tara", "ta", PASSWORD)
        ingrid = book.accounts.add_user("ingrid", "instructor", PASSWORD)
        tokens = [book.accounts.start_session(tara) for _ in range(2)]
        kept = book.accounts.start_session(ingrid)
        assert book.accounts.remove_user("tara") == 2
        assert all(book.accounts.session(t) is None for t in tokens)
        assert book.accounts.session(kept) is not None
        assert book.accounts.check_password("tara", PASSWORD) is None
        with pytest.raises(GradeError, match="no user 'tara'"):
            book.accounts.remove_user("tara")
