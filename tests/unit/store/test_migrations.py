"""The Alembic migrations: up from nothing, down and up again with data, in step with the models."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from grader import models as m
from grader.errors import GradeError
from grader.store.gradebook import MIGRATIONS, Gradebook
from grader.store.schema import Base

TABLES = {"runs", "submissions", "results", "test_results", "overrides"}


def cli_config(db: Path) -> Config:
    """Alembic as a developer runs it: the shipped ini, the URL given with -x url=..."""
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.cmd_opts = argparse.Namespace(x=[f"url=sqlite:///{db}"])
    return config


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as raw:
        return {name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def grade(student: str) -> m.Grade:
    fingerprint = m.Fingerprint("sub", "tests", "ref", "rubric", "0.1.0")
    test = m.TestResult("test_mlp_forward", "MLP", "passed", 2.0, 2.0)
    return m.Grade(student, "01_neural_networks", m.Status.GRADED, 2.0, 2.0, "", fingerprint, (test,))


def test_one_linear_history() -> None:
    script = ScriptDirectory.from_config(cli_config(Path("unused.db")))
    assert len(script.get_heads()) == 1
    assert (MIGRATIONS / "script.py.mako").is_file()  # `alembic revision` needs it


def test_upgrade_empty_database_to_head(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    command.upgrade(cli_config(db), "head")

    assert tables(db) == TABLES | {"alembic_version"}


def test_head_schema_matches_the_models(tmp_path: Path) -> None:
    """A model changed without a migration (or the reverse) shows up here as a diff."""
    db = tmp_path / "head.db"
    command.upgrade(cli_config(db), "head")
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_and_upgrade_again_with_data(tmp_path: Path) -> None:
    db = tmp_path / "grades.db"
    with Gradebook(db) as book:  # migrates to head on open
        run = book.start_run({})
        book.record(run, grade("alice"))
        book.record(run, grade("bob"))
        book.finish_run(run)

    command.downgrade(cli_config(db), "base")
    assert tables(db) == {"alembic_version"}

    command.upgrade(cli_config(db), "head")
    assert TABLES <= tables(db)
    with Gradebook(db) as book:
        assert book.latest_grades() == []
        book.record(book.start_run({}), grade("carol"))
        assert [g.student for g in book.latest_grades()] == ["carol"]


def test_gradebook_migrates_an_old_database_on_open(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    command.upgrade(cli_config(db), "head")
    command.downgrade(cli_config(db), "base")

    with Gradebook(db) as book:
        book.record(book.start_run({}), grade("alice"))
    engine = create_engine(f"sqlite:///{db}")
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_database_from_a_newer_grader_is_refused_with_a_fix(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    Gradebook(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE alembic_version SET version_num = 'f00dfeed'")

    with pytest.raises(GradeError, match="upgrade grader"):
        Gradebook(db)
