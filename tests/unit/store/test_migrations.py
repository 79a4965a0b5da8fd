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
from tests.factories import make_grade, make_test_result

TABLES = {"runs", "submissions", "results", "test_results", "overrides", "users", "web_sessions", "roster",
          "lms_assignments", "written_answers", "manual_grades", "manual_claims", "grade_events"}


def cli_config(db: Path) -> Config:
    """Alembic as a developer runs it: the shipped ini, the URL given with -x url=..."""
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.cmd_opts = argparse.Namespace(x=[f"url=sqlite:///{db}"])
    return config


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as raw:
        return {name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def grade(student: str) -> m.Grade:
    return make_grade(student, "01_neural_networks", tests=(make_test_result("test_mlp_forward", part="MLP"),))


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


OLD_GRADEBOOK = Path(__file__).parents[2] / "fixtures" / "gradebooks" / "demo-class-0.2.0.db"


def test_gradebook_written_before_the_layout_change_opens_and_migrates(tmp_path: Path) -> None:
    """tests/fixtures/gradebooks/demo-class-0.2.0.db: the demo class graded by grade 0.2.0 as it was
    before the package's layout changed (commit 5326011, Alembic revision 0002). Opening it migrates
    it to head and every stored grade reads back as the demo's expected result of that time (the
    rubrics' weights changed since: demo-class-0.2.0-expected/ keeps the expected files it was checked against)."""
    import shutil

    import yaml

    db = tmp_path / "old.db"
    shutil.copyfile(OLD_GRADEBOOK, db)
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)

    with Gradebook(db) as book:
        grades = {(g.student, g.assignment): g for g in book.latest_grades()}
        runs = book.runs()
    head = ScriptDirectory.from_config(cli_config(db)).get_current_head()
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)
    assert len(grades) == 216 and len(runs) == 1

    demo = OLD_GRADEBOOK.parent / "demo-class-0.2.0-expected"
    listed = 0
    for expected_file in sorted(demo.glob("*.yaml")):
        for student, (status, score) in (yaml.safe_load(expected_file.read_text()) or {}).items():
            listed += 1
            grade = grades[(student, expected_file.stem)]
            assert grade.status == status, (student, expected_file.stem)
            if isinstance(score, list):
                assert score[0] <= grade.score <= score[1], (student, expected_file.stem)
            else:
                assert grade.score == pytest.approx(score), (student, expected_file.stem)
    missing = [g for g in grades.values() if g.status == m.Status.MISSING]
    assert len(missing) == 216 - listed and all(g.score == 0 for g in missing)


def test_revision_0003_adds_the_signals_and_leaves_every_stored_value_alone(tmp_path: Path) -> None:
    """The 0.2.0 gradebook through 0003 and back: results and test_results keep every value; its
    homework results read back as ModelScores, its rows with no signals and no student message (NULL)."""
    import shutil

    db = tmp_path / "old.db"
    shutil.copyfile(OLD_GRADEBOOK, db)

    def rows() -> tuple[list[tuple], list[tuple]]:
        with sqlite3.connect(db) as raw:
            return (raw.execute("SELECT id, status, score, message, cell_errors, output_excerpt, extra FROM results "
                                "ORDER BY id").fetchall(),
                    raw.execute("SELECT id, outcome, points, message FROM test_results ORDER BY id").fetchall())

    before = rows()
    with Gradebook(db) as book:
        grades = {(g.student, g.assignment): g for g in book.latest_grades()}
    assert rows() == before
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM results WHERE execution_signals IS NOT NULL").fetchone() == (0,)
        tests, with_message = raw.execute("SELECT count(*), count(student_message) FROM test_results").fetchone()
    assert tests > 0 and with_message == 0
    failed = [t for g in grades.values() for t in g.tests if t.outcome is not m.Outcome.PASSED]
    assert failed and all(t.student_message is None for t in failed)
    lea = grades[("lea_finetuned", "homework")].model_score
    assert lea is not None and lea.accuracy == 0.7887 and lea.labels == ("rotten", "fresh")
    assert lea.confusion_matrix == ((681, 291), (223, 1237))
    refused = grades[("noor_pickled", "homework")].model_score
    assert refused is not None and refused.architecture is None and refused.seconds == 0.44
    assert all(g.model_score is None for (_, a), g in grades.items() if a != "homework")

    command.downgrade(cli_config(db), "0002")
    assert rows() == before
    with sqlite3.connect(db) as raw:
        columns = {name for _, name, *_ in raw.execute("PRAGMA table_info(test_results)")}
    assert "signals" not in columns and "student_message" not in columns


def test_revision_0004_adds_accounts_to_the_old_gradebook_and_goes_back(tmp_path: Path) -> None:
    """The 0.2.0 gradebook up to head (0004: users, web_sessions) and back to 0003: every grade stays."""
    import shutil

    db = tmp_path / "old.db"
    shutil.copyfile(OLD_GRADEBOOK, db)
    with Gradebook(db) as book:
        before = book.latest_grades()
        alice = book.accounts.add_user("alice", "ta", "correct horse battery")
        token = book.accounts.start_session(alice)
    assert {"users", "web_sessions"} <= tables(db)
    with sqlite3.connect(db) as raw:
        stored = raw.execute("SELECT password_hash FROM users").fetchone()[0]
        assert stored.startswith("$argon2id$") and "correct horse" not in stored
        assert raw.execute("SELECT token_sha256 FROM web_sessions").fetchone()[0] != token

    command.downgrade(cli_config(db), "0003")
    assert not {"users", "web_sessions"} & tables(db)
    command.upgrade(cli_config(db), "head")
    with Gradebook(db) as book:
        assert book.latest_grades() == before and book.accounts.users() == []


def test_revision_0006_gives_old_results_their_final_score_and_stores_lateness_and_the_roster(tmp_path: Path) -> None:
    """The 0.2.0 gradebook through 0006: every old result reads back with no lateness, late_penalty 0 and
    final_score = score in its row; a new result keeps its lateness; the roster is stored; and back to 0005."""
    import shutil
    from datetime import datetime, timezone


    db = tmp_path / "old.db"
    shutil.copyfile(OLD_GRADEBOOK, db)
    with Gradebook(db) as book:
        before = book.latest_grades()
        late = m.Lateness(due_at=datetime(2026, 11, 2, 22, 59, tzinfo=timezone.utc),
                          submitted_at=datetime(2026, 11, 4, 9, 0, tzinfo=timezone.utc), days_late=2,
                          penalty_percent=20.0, message="handed in 2 days late")
        book.record(book.start_run({}), make_grade("zed", "01_neural_networks", score=20.0, max_score=25.0, late=late))
        book.replace_roster([m.RosterStudent("zed", name="Zed", email="zed@example.org")], {"01_neural_networks": "42"})
        grades = {(g.student, g.assignment): g for g in book.latest_grades()}
        assert book.roster() == [m.RosterStudent("zed", name="Zed", email="zed@example.org")]
        assert book.canvas_assignments() == {"01_neural_networks": "42"}
    assert all(g.late is None for g in before) and before == [g for g in grades.values() if g.student != "zed"]
    zed = grades[("zed", "01_neural_networks")]
    assert zed.late == late and zed.late_penalty == 5.0 and zed.final_score == 15.0
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM results WHERE final_score IS NULL OR late_penalty IS NULL"
                           ).fetchone() == (0,)
        unchanged = "SELECT count(*) FROM results WHERE final_score != score AND late IS NULL"
        assert raw.execute(unchanged).fetchone() == (0,)
        assert raw.execute("SELECT late_penalty, final_score FROM results WHERE late IS NOT NULL").fetchall() == [
            (5.0, 15.0)]

    command.downgrade(cli_config(db), "0005")
    assert not {"roster", "lms_assignments"} & tables(db)
    with sqlite3.connect(db) as raw:
        columns = {name for _, name, *_ in raw.execute("PRAGMA table_info(results)")}
    assert not {"late", "late_penalty", "final_score"} & columns and "execution_figures" in columns
    command.upgrade(cli_config(db), "head")
    with Gradebook(db) as book:
        assert book.roster() == [] and len(book.latest_grades()) == len(before) + 1


def test_revision_0007_adds_manual_grading_to_the_old_gradebook_and_goes_back(tmp_path: Path) -> None:
    """The 0.2.0 gradebook through 0007: old results read back with no manual parts and their scores;
    a new result's written answers, a TA's grade and the events are stored; and back to 0006, grades kept."""
    import shutil

    from tests.factories import make_manual_grade_of

    db = tmp_path / "old.db"
    shutil.copyfile(OLD_GRADEBOOK, db)
    with Gradebook(db) as book:
        before = book.latest_grades()
        book.record(book.start_run({}), make_manual_grade_of("zed"))
        book.manual.save("zed", "05_attention_mechanism", "why_scale", items=["variance"], adjustment=0,
                         comment="ok", by="tom", expected_version=0)
        grades = {(g.student, g.assignment): g for g in book.latest_grades()}
        assert [e.kind for e in book.events()] == ["manual"]
    assert all(g.manual == () and not g.awaiting_manual for g in before)
    assert before == [g for g in grades.values() if g.student != "zed"]
    assert grades[("zed", "05_attention_mechanism")].score == 7.0
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT part, text FROM written_answers").fetchall() == [
            ("why_scale", "Because the variance grows with d_k.")]

    command.downgrade(cli_config(db), "0006")
    assert not {"written_answers", "manual_grades", "manual_claims", "grade_events"} & tables(db)
    command.upgrade(cli_config(db), "head")
    with Gradebook(db) as book:
        after = {(g.student, g.assignment): g for g in book.latest_grades()}
        assert book.events() == [] and book.manual.get("zed", "05_attention_mechanism", "why_scale") is None
    assert len(after) == len(grades) and after[("zed", "05_attention_mechanism")].manual == ()
    assert after[("zed", "05_attention_mechanism")].score == 5.0
