"""The gradebook on a real PostgreSQL server, and the migrations from the first revision to head
on a database that holds data (SQLite always; PostgreSQL behind the `postgres` marker).

The `postgres_url` fixture (tests/conftest.py, from tests/postgres.py) is a private cluster.
"""

from __future__ import annotations

import argparse
import csv
import io
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from click.testing import CliRunner

from grader import models as m
from grader.cli import main
from grader.reports.write import page_name, write_store_reports
from grader.store.gradebook import MIGRATIONS, Gradebook
from tests.factories import make_fingerprint, make_grade, make_model_score, make_test_result
from tests.postgres import fresh_database

FP = make_fingerprint()


def grade(student: str, points: float = 2.0) -> m.Grade:
    test = make_test_result("test_mask", "passed" if points else "failed", points=points, message="ünïcode ✓")
    return make_grade(student, "05_attention", tests=(test,),
                      model_score=make_model_score(accuracy=0.75, confusion_matrix=((1, 0), (1, 2))))


def alembic(url: str) -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.cmd_opts = argparse.Namespace(x=[f"url={url.replace('postgresql://', 'postgresql+psycopg://')}"])
    return config


def migrate_from_first_revision_with_data(url: str) -> None:
    """Stop at 0001, store rows as that schema had them, go to head, and use the data there."""
    command.upgrade(alembic(url), "0001")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO runs (id, started_at, status, pid, host, grader_version, options) "
                             "VALUES (1, :now, 'finished', 1, 'h', '0.1.0', '{}')"), {"now": now})
        conn.execute(sa.text("INSERT INTO submissions (id, student, assignment, content_hash) "
                             "VALUES (1, 'old_student', '05_attention', 'sub')"))
        conn.execute(sa.text(
            "INSERT INTO results (id, run_id, submission_id, status, score, max_score, message, tests_hash, "
            "reference_hash, rubric_hash, grader_version, duration_s, extra, created_at) VALUES "
            "(1, 1, 1, 'graded', 0.0, 2.0, '', 'tests', 'ref', 'rubric', '0.1.0', 1.0, '{}', :now)"), {"now": now})
        conn.execute(sa.text("INSERT INTO test_results (id, result_id, test_id, part, outcome, points, max_points, "
                             "message, duration_s) VALUES (1, 1, 'test_mask', 'Attention', 'failed', 0, 2, 'no', 0)"))
    engine.dispose()

    with Gradebook(url) as book:  # migrates to head on open
        (old,) = book.latest_grades()
        assert (old.student, old.score, old.tests[0].outcome) == ("old_student", 0.0, "failed")
        made = book.add_override("old_student", "05_attention", "test_mask", 1.0, reason="migrated", created_by="ta")
        assert made.result_id == 1 and made.original_points == 0.0
    command.downgrade(alembic(url), "0001")  # and back: the override table goes, the grades stay
    with sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://")).connect() as conn:
        assert "overrides" not in sa.inspect(conn).get_table_names()
        assert conn.execute(sa.text("SELECT count(*) FROM results")).scalar() == 1


def test_sqlite_migrates_from_the_first_revision_with_data(tmp_path: Path) -> None:
    migrate_from_first_revision_with_data(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
def test_postgres_migrates_from_the_first_revision_with_data(postgres_url: str) -> None:
    migrate_from_first_revision_with_data(fresh_database(postgres_url, "migrations"))


@pytest.mark.postgres
def test_gradebook_reports_and_exports_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    url = fresh_database(postgres_url, "gradebook")
    with Gradebook(url) as book:
        run = book.start_run({"path": tmp_path})
        first = book.record(run, grade("alice"))
        book.record(run, grade("bob", 0.0))
        book.finish_run(run)
        second = book.start_run({})
        found = book.find_reusable_result("alice", "05_attention", FP)
        assert found is not None and found[0] == first
        book.record(second, found[1], reused_from=found[0])
        book.finish_run(second)
        book.add_override("bob", "05_attention", None, 1.5, reason="by hand", created_by="ta")
        assert [g.student for g in book.latest_grades()] == ["alice", "bob"]
        assert book.latest_grades()[0] == grade("alice")  # JSON, unicode and floats round-trip
        assert [r.status for r in book.runs()] == ["finished", "finished"]
        write_store_reports(book, tmp_path / "r")
    bob_page = (tmp_path / "r" / "students" / page_name("bob")).read_text()
    assert "1.5 / 2" in bob_page and "by hand" in bob_page

    result = CliRunner().invoke(main, ["export", "--db", url, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = {r["student"]: r["score"] for r in csv.DictReader(io.StringIO(result.output))}
    assert rows == {"alice": "2.0", "bob": "1.5"}
