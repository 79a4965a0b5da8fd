"""Alembic environment for the gradebook.

grader.store.gradebook runs this in-process and hands over its own connection through
``config.attributes["connection"]`` (so SQLite pragmas, the open transaction and
in-memory databases are shared). From the command line it falls back to a URL given
with ``-x url=...`` or ``sqlalchemy.url`` in the ini file.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

from grader.store.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database given: pass -x url=sqlite:///path/to/grades.db")
    return url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    _run(given)
else:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()
