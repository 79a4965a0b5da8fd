"""Accounts of the web app and their sessions: every query on `users` and `web_sessions`.

Reached as `Gradebook.accounts`; like gradebook.py, the only other module with a session.
Passwords are hashed with argon2id (argon2-cffi's PasswordHasher defaults: 64 MiB, 3 passes)
and never stored or returned. A session is a random id the browser keeps in a cookie; the
table holds only its SHA-256, so a copy of the database logs nobody in, and deleting the row
(logout, the user removed) ends the session for good.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from grader.errors import GradeError
from grader.store.engine import as_utc, now
from grader.store.schema import UserRow, WebSessionRow

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; a megabyte-long "password" is only a way to burn CPU
SESSION_TTL = timedelta(hours=12)  # a working day; then the TA logs in again
# Letters, digits and . _ @ - : safe in a log line, a URL and a proxy's user header (an e-mail works).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class Role(StrEnum):
    INSTRUCTOR = "instructor"
    TA = "ta"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    created_at: datetime


@dataclass(frozen=True)
class WebSession:
    """A live session, as found from the id in its cookie."""

    user: User
    created_at: datetime
    expires_at: datetime


def token_hash(token: str) -> str:
    """What the table stores for a session id: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Accounts:
    """Users and web sessions in the gradebook; `read` and `write` are the Gradebook's sessionmakers."""

    def __init__(self, read: Any, write: Any) -> None:
        self._read = read
        self._write = write
        self._hasher = PasswordHasher()
        self._dummy: str | None = None

    # -- users -----------------------------------------------------------------------

    def add_user(self, name: str, role: Role | str, password: str) -> User:
        check_name(name)
        try:
            role = Role(role)
        except ValueError:
            raise GradeError(f"unknown role {role!r}: use one of {', '.join(r.value for r in Role)}") from None
        check_password(password)
        hashed = self._hasher.hash(password)
        try:
            with self._write.begin() as session:
                row = UserRow(name=name, role=role.value, password_hash=hashed, created_at=now())
                session.add(row)
                session.flush()
                return _to_user(row)
        except IntegrityError:
            raise GradeError(f"there is already a user {name!r}: `grade users remove {name}` first "
                             "to give them a new password or role") from None

    def users(self) -> list[User]:
        with self._read() as session:
            return [_to_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]

    def count(self) -> int:
        with self._read() as session:
            return session.scalar(select(func.count(UserRow.id))) or 0

    def user(self, name: str) -> User | None:
        with self._read() as session:
            row = session.scalars(select(UserRow).where(UserRow.name == name)).one_or_none()
            return None if row is None else _to_user(row)

    def remove_user(self, name: str) -> int:
        """Remove a user and end their sessions; returns how many sessions ended."""
        with self._write.begin() as session:
            row = session.scalars(select(UserRow).where(UserRow.name == name)).one_or_none()
            if row is None:
                raise GradeError(f"no user {name!r}: `grade users list` shows who there is")
            # Explicit rather than trusting ON DELETE CASCADE: SQLite enforces it only with foreign_keys on.
            ended = session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.id)).rowcount
            session.delete(row)
            return ended

    def check_password(self, name: str, password: str) -> User | None:
        """The user, if `password` is theirs. As slow for an unknown name as for a wrong password."""
        with self._read() as session:
            row = session.scalars(select(UserRow).where(UserRow.name == name)).one_or_none()
            stored = None if row is None else row.password_hash
            user = None if row is None else _to_user(row)
        if stored is None or len(password) > MAX_PASSWORD:
            self._burn(password[:MAX_PASSWORD])
            return None
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if self._hasher.check_needs_rehash(stored):  # the defaults grew stronger since it was hashed
            with self._write.begin() as session:
                found = session.get(UserRow, user.id)  # type: ignore[union-attr]
                if found is not None:
                    found.password_hash = self._hasher.hash(password)
        return user

    def _burn(self, password: str) -> None:
        if self._dummy is None:
            self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        try:
            self._hasher.verify(self._dummy, password)
        except VerificationError:
            pass

    # -- sessions ----------------------------------------------------------------------

    def start_session(self, user: User, ttl: timedelta = SESSION_TTL) -> str:
        """A new session for `user`; returns its id, for the cookie (the table keeps only a hash)."""
        token = secrets.token_urlsafe(32)  # 256 random bits
        started = now()
        with self._write.begin() as session:
            session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < started))
            session.add(WebSessionRow(token_sha256=token_hash(token), user_id=user.id, created_at=started,
                                      expires_at=started + ttl))
        return token

    def session(self, token: str) -> WebSession | None:
        """The live session whose id is `token`, or None (unknown, ended or expired)."""
        if not token or len(token) > 256:
            return None
        query = (select(WebSessionRow, UserRow).join(UserRow, WebSessionRow.user_id == UserRow.id)
                 .where(WebSessionRow.token_sha256 == token_hash(token)))
        with self._read() as session:
            found = session.execute(query).one_or_none()
            if found is None:
                return None
            row, user = found
            if as_utc(row.expires_at) <= now():
                return None
            return WebSession(user=_to_user(user), created_at=as_utc(row.created_at),
                              expires_at=as_utc(row.expires_at))

    def end_session(self, token: str) -> None:
        with self._write.begin() as session:
            session.execute(delete(WebSessionRow).where(WebSessionRow.token_sha256 == token_hash(token)))


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise GradeError(f"{name!r} is not a usable user name: 1 to 64 letters, digits and . _ @ -, "
                         "starting with a letter or digit")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise GradeError(f"the password has {len(password)} characters; use at least {MIN_PASSWORD}")
    if len(password) > MAX_PASSWORD:
        raise GradeError(f"the password is longer than {MAX_PASSWORD} characters")


def _to_user(row: UserRow) -> User:
    return User(id=row.id, name=row.name, role=Role(row.role), created_at=as_utc(row.created_at))
