"""grader.store.gradebook against real SQLite files: round trips, reuse, runs, pragmas."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from grader import models as m
from grader.store.gradebook import Gradebook, RunInfo

FINGERPRINT = m.Fingerprint(
    submission_hash="sub-1", tests_hash="tests-1", reference_hash="ref-1", rubric_hash="rub-1", grader_version="0.1.0"
)


def make_grade(student: str = "alice", assignment: str = "05_attention_mechanism", **changes: object) -> m.Grade:
    grade = m.Grade(
        student=student,
        assignment=assignment,
        status=m.Status.GRADED,
        score=7.5,
        max_score=10.0,
        message="2 tests failed",
        fingerprint=FINGERPRINT,
        tests=(
            m.TestResult("test_scaled_scores", "Scaled dot-product", "passed", 5.0, 5.0, "", 0.25),
            m.TestResult("test_mask", "Scaled dot-product", "failed", 2.5, 3.0, "masked position got weight 0.3", 0.5),
            m.TestResult("test_multihead", "Multi-head attention", "error", 0.0, 2.0, "NameError: attn", 0.125),
        ),
        execution=m.Execution(
            status=m.Status.GRADED,
            message="1 cell raised",
            cell_errors=(m.CellError(7, "NameError", "name 'attn' is not defined"),),
            output_excerpt="<script>alert(1)</script>\nloss 0.31",
            duration_s=12.5,
            sandboxed=True,
        ),
        duration_s=14.75,
        extra={"accuracy": 0.875, "confusion": [[3, 1], [0, 4]], "note": "ünïcode"},
    )
    return dataclasses.replace(grade, **changes)


@pytest.fixture
def book(tmp_path: Path):
    with Gradebook(tmp_path / "grades.db") as gradebook:
        yield gradebook


def assert_same_grade(got: m.Grade, want: m.Grade) -> None:
    """Field by field, so a failure names the field that did not survive."""
    for f in dataclasses.fields(m.Grade):
        assert getattr(got, f.name) == getattr(want, f.name), f.name
    assert got == want


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"execution": None, "tests": (), "status": m.Status.MISSING, "score": 0.0, "message": "no file"},
        {"status": m.Status.TIMEOUT, "execution": m.Execution(m.Status.TIMEOUT, "ran past 600 s", sandboxed=False)},
    ],
    ids=["graded", "missing", "timeout"],
)
def test_record_and_latest_grades_round_trip(book: Gradebook, changes: dict) -> None:
    grade = make_grade(**changes)
    run = book.start_run({"jobs": 4})
    book.record(run, grade)

    [got] = book.latest_grades()
    assert_same_grade(got, grade)


def test_latest_grades_keeps_newest_per_pair_sorted(book: Gradebook) -> None:
    run = book.start_run({})
    book.record(run, make_grade("bob", "02_cnns_basics", score=1.0))
    book.record(run, make_grade("bob", "01_neural_networks"))
    book.record(run, make_grade("alice", "02_cnns_basics"))
    resubmitted = dataclasses.replace(FINGERPRINT, submission_hash="sub-2")
    newer = make_grade("bob", "02_cnns_basics", score=9.0, fingerprint=resubmitted)
    book.record(book.start_run({}), newer)

    grades = book.latest_grades()

    assert [(g.student, g.assignment) for g in grades] == [
        ("alice", "02_cnns_basics"),
        ("bob", "01_neural_networks"),
        ("bob", "02_cnns_basics"),
    ]
    assert grades[2] == newer


def test_find_reusable_hit(book: Gradebook) -> None:
    grade = make_grade()
    book.record(book.start_run({}), grade)

    assert_same_grade(book.find_reusable("alice", "05_attention_mechanism", FINGERPRINT), grade)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(m.Fingerprint)])
def test_find_reusable_misses_when_any_hash_changes(book: Gradebook, field: str) -> None:
    book.record(book.start_run({}), make_grade())
    changed = dataclasses.replace(FINGERPRINT, **{field: "something-else"})

    assert book.find_reusable("alice", "05_attention_mechanism", changed) is None


def test_find_reusable_misses_other_student_or_assignment(book: Gradebook) -> None:
    book.record(book.start_run({}), make_grade())

    assert book.find_reusable("bob", "05_attention_mechanism", FINGERPRINT) is None
    assert book.find_reusable("alice", "04_transformer_architecture", FINGERPRINT) is None


@pytest.mark.parametrize("status", list(m.Status))
def test_every_status_is_reused(book: Gradebook, status: m.Status) -> None:
    grade = make_grade(status=status, message=f"{status} once, {status} again")
    book.record(book.start_run({}), grade)

    assert book.find_reusable("alice", "05_attention_mechanism", FINGERPRINT) == grade


def test_reuse_points_at_the_result_that_did_the_work(book: Gradebook) -> None:
    original = book.record(book.start_run({}), make_grade(message="old"))
    book.record(book.start_run({}), make_grade(message="new"))
    reused_id, grade = book.find_reusable_result("alice", "05_attention_mechanism", FINGERPRINT)
    assert grade.message == "new"  # the latest match wins

    second = book.record(book.start_run({}), grade, reused_from=reused_id)
    third_id, _ = book.find_reusable_result("alice", "05_attention_mechanism", FINGERPRINT)

    assert reused_id == original + 1
    assert third_id == reused_id != second  # not a chain through the copy


def test_record_rejects_unknown_run_because_foreign_keys_are_on(book: Gradebook) -> None:
    with pytest.raises(IntegrityError):
        book.record(999, make_grade())
    assert book.latest_grades() == []  # nothing half-written


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "grades.db"
    Gradebook(path).close()

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_sqlalchemy_url_works_and_reopens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'by-url.db'}"
    with Gradebook(url) as book:
        book.record(book.start_run({}), make_grade())
    with Gradebook(url) as book:
        assert book.latest_grades() == [make_grade()]
    assert (tmp_path / "by-url.db").is_file()


def test_runs_lifecycle(book: Gradebook, tmp_path: Path) -> None:
    first = book.start_run({"folder": tmp_path, "jobs": 2})
    book.finish_run(first)
    second = book.start_run({})
    book.finish_run(second, "failed")

    runs = book.runs()

    assert [r.id for r in runs] == [first, second]
    assert isinstance(runs[0], RunInfo)
    assert runs[0].status == "finished" and runs[1].status == "failed"
    assert runs[0].options == {"folder": str(tmp_path), "jobs": 2}
    assert runs[0].started_at.tzinfo is not None
    assert runs[0].finished_at >= runs[0].started_at
    with pytest.raises(ValueError, match="finishes as one of"):
        book.finish_run(first, "running")
    with pytest.raises(KeyError):
        book.finish_run(12345)


def test_run_of_a_dead_process_becomes_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "grades.db"
    code = f"from grader.store.gradebook import Gradebook; Gradebook({str(db)!r}).start_run({{}})"
    subprocess.run([sys.executable, "-c", code], check=True)  # starts a run, then dies without finishing

    with Gradebook(db) as book:
        [crashed] = book.runs()
        assert crashed.status == "running"
        alive = book.start_run({})
        book.start_run({})

        statuses = {r.id: r.status for r in book.runs()}
    assert statuses[crashed.id] == "interrupted"
    assert statuses[alive] == "running"  # this process is still alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process start times come from /proc")
def test_reused_pid_does_not_keep_a_run_alive(tmp_path: Path) -> None:
    db = tmp_path / "grades.db"
    with Gradebook(db) as book:
        old = book.start_run({})
    # Our own (live) pid, but the run started long before this process did: a container
    # restart that handed the grader the same pid.
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE runs SET started_at = '2001-01-01 00:00:00.000000' WHERE id = ?", (old,))

    with Gradebook(db) as book:
        book.start_run({})
        assert book.runs()[0].status == "interrupted"


def test_concurrent_writers_wait_their_turn(tmp_path: Path) -> None:
    """Several processes recording into one SQLite file: no "database is locked", nothing lost."""
    db = tmp_path / "grades.db"
    Gradebook(db).close()
    code = (
        "import sys; from grader.store.gradebook import Gradebook; from test_gradebook import make_grade\n"
        f"with Gradebook({str(db)!r}) as book:\n"
        "    run = book.start_run({})\n"
        "    for i in range(15):\n"
        "        book.record(run, make_grade(assignment=f'a{i}', message=sys.argv[1]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    writers = [subprocess.Popen([sys.executable, "-c", code, str(n)], env=env) for n in range(4)]
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0, 0]

    with Gradebook(db) as book:
        assert len(book.runs()) == 4
        assert len(book.latest_grades()) == 15
        with sqlite3.connect(db) as raw:
            assert raw.execute("SELECT count(*) FROM results").fetchone() == (60,)
            assert raw.execute("SELECT count(*) FROM submissions").fetchone() == (15,)
