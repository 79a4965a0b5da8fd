"""A throwaway PostgreSQL cluster for the tests marked `postgres` (the store's and the web app's).

`cluster()` initdb's a private cluster in a temp folder, starts it on a free port as a non-root
user (PostgreSQL refuses to run as root) and stops it afterwards; tests/conftest.py offers it
as the `postgres_url` fixture. `fresh_database` gives each test its own database in it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def cluster(binaries: Path) -> Iterator[str]:
    """postgresql://grader@127.0.0.1:PORT/postgres on a throwaway cluster."""
    # Not under pytest's temp folder: that is private to root, and the server runs as nobody.
    root = Path(tempfile.mkdtemp(prefix="grade-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("nobody")
        for path in (root, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]
    env = {**os.environ, "LC_ALL": "C"}

    def pg(*args: str) -> None:
        done = subprocess.run([*prefix, *args], env=env, cwd=root, capture_output=True, text=True, timeout=120)
        if done.returncode:
            log = (root / "log").read_text() if (root / "log").exists() else ""
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr}{done.stdout}{log}")

    port = free_port()
    pg(str(binaries / "initdb"), "-D", str(data), "-U", "grader", "-A", "trust", "-E", "UTF8", "--no-sync")
    pg(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60",
       "-o", f"-p {port} -k {sockets} -h 127.0.0.1 -c fsync=off", "start")
    try:
        yield f"postgresql://grader@127.0.0.1:{port}/postgres"
    finally:
        pg(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return url.rsplit("/", 1)[0] + f"/{name}"
