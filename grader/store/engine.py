"""Engines and platform details for the gradebook: SQLite pragmas (WAL, foreign keys, busy
timeout, BEGIN IMMEDIATE on request), the PostgreSQL driver, and whether the process that
started a run is still alive (to tell a running run from an interrupted one)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection


def engine_for(db: str) -> Engine:
    """An engine for a URL, or for a SQLite file at a path (its folder created)."""
    if "://" in db:
        engine = create_engine(with_driver(db))
    else:
        path = Path(db).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(URL.create("sqlite", database=str(path)))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def with_driver(url: str) -> str:
    """`postgresql://` means psycopg 3 (what we install), not SQLAlchemy's default psycopg2."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy (see _sqlite_begin); pysqlite's own
    # implicit BEGIN cannot be made IMMEDIATE and swallows pragmas.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (reports) never block the writer
    cursor.execute("PRAGMA foreign_keys=ON")  # off by default in SQLite, per connection
    cursor.execute("PRAGMA busy_timeout=30000")  # wait for another writer instead of failing
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("grader_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def sqlite_pragma(conn: Connection, pragma: str) -> None:
    """Run a pragma outside any transaction (where foreign_keys has effect)."""
    if conn.dialect.name == "sqlite":
        conn.connection.driver_connection.execute(pragma)  # type: ignore[union-attr]


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_process_alive(pid: int, since: datetime) -> bool:
    """Whether the process that started a run at `since` may still be running it.

    A pid can be reused (in a container the grader is often pid 1 every time), so
    on Linux a live pid whose process started after the run did counts as dead.
    """
    if pid <= 0:
        return False
    if os.name != "posix":
        return True  # os.kill(pid, 0) terminates the process on Windows; stay conservative
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    started = _process_start(pid)
    return started is None or started <= since + timedelta(seconds=2)  # btime is whole seconds


def _process_start(pid: int) -> datetime | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
        # Field 22 is the start time in clock ticks after boot; the name (field 2) may hold spaces.
        ticks = int(stat.rpartition(")")[2].split()[19])
        return datetime.fromtimestamp(int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK"), UTC)
    except (OSError, ValueError, IndexError, StopIteration):
        return None
