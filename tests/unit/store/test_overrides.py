"""Overrides: recorded with who, when and why in a real SQLite gradebook, the original kept,
applied in exports, shown in reports, through the CLI as a TA uses it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import models as m
from grader.cli import main
from grader.errors import GradeError
from grader.store.overrides import apply_overrides, apply_with_audit
from grader.reports.write import page_name
from grader.store.gradebook import Gradebook
from tests.factories import make_grade, make_test_result


def grade(student: str, *, mask: float = 0.0) -> m.Grade:
    """test_scores passed (2 of 2 points), test_mask earned `mask` of 3."""
    masked = make_test_result("test_mask", "passed" if mask else "failed", points=mask, max_points=3.0,
                              message="masked positions got 0.25")
    return make_grade(student, "05_attention", tests=(make_test_result("test_scores"), masked))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "grades.db"
    with Gradebook(path) as book:
        run = book.start_run({})
        book.record(run, grade("alice"))
        book.record(run, grade("bob", mask=3.0))
        book.finish_run(run)
    return path


def test_an_override_is_recorded_with_who_when_why_and_the_original_kept(db: Path) -> None:
    with Gradebook(db) as book:
        made = book.add_override("alice", "05_attention", "test_mask", 2.5, reason=" partial credit ", created_by="ta1")
        (stored,) = book.overrides()
        assert stored == made
        assert (made.points, made.original_points, made.reason, made.created_by) == (2.5, 0.0, "partial credit", "ta1")
        assert made.created_at.tzinfo is not None and made.result_id is not None
        # The computed grade is untouched in the database.
        alice = next(g for g in book.latest_grades() if g.student == "alice")
        assert alice.score == 2.0 and alice.tests[1].points == 0.0
        (after,) = apply_overrides([alice], book.overrides())
        assert after.score == 4.5 and after.tests[1].points == 2.5


def test_newest_override_wins_and_a_whole_assignment_one_beats_tests(db: Path) -> None:
    with Gradebook(db) as book:
        book.add_override("alice", "05_attention", "test_mask", 1.0, reason="first look", created_by="ta1")
        book.add_override("alice", "05_attention", "test_mask", 3.0, reason="second look", created_by="ta2")
        grades = book.latest_grades()
        assert [g.score for g in apply_overrides(grades, book.overrides())] == [5.0, 5.0]
        book.add_override("alice", "05_attention", None, 4.0, reason="late penalty", created_by="prof")
        (alice, audit), (bob, bob_audit) = apply_with_audit(grades, book.overrides())
        assert alice.score == 4.0 and alice.tests[1].points == 3.0
        assert [(a.override.reason, a.before, a.after) for a in audit] == [("second look", 0.0, 3.0),
                                                                           ("late penalty", 5.0, 4.0)]
        assert bob == grades[1] and bob_audit == ()
        assert len(book.overrides()) == 3  # the whole trail stays


@pytest.mark.parametrize(
    ("student", "test", "points", "match"),
    [
        ("nobody", None, 1.0, "no grade for student 'nobody'"),
        ("alice", "test_nope", 1.0, "has no test 'test_nope'; its tests: test_scores, test_mask"),
        ("alice", "test_mask", 3.5, "test_mask is worth 3 points"),
        ("alice", None, 6.0, "worth 5 points"),
        ("alice", None, -1.0, "0 or more"),
    ],
)
def test_bad_overrides_are_refused_with_a_fix(db: Path, student: str, test: str | None, points: float,
                                               match: str) -> None:
    with Gradebook(db) as book:
        with pytest.raises(GradeError, match=match):
            book.add_override(student, "05_attention", test, points, reason="r", created_by="ta")
        with pytest.raises(GradeError, match="needs a --reason"):
            book.add_override("alice", "05_attention", None, 1.0, reason="  ", created_by="ta")
        assert book.overrides() == []


def test_cli_override_shows_in_reports_and_every_export(db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    reports = tmp_path / "reports"
    assert runner.invoke(main, ["report", "--db", str(db), "--reports", str(reports)]).exit_code == 0
    result = runner.invoke(main, ["override", "alice", "05_attention", "test_mask", "--points", "2",
                                  "--reason", "mask right, <b>off by one</b>", "--db", str(db),
                                  "--reports", str(reports)])
    assert result.exit_code == 0, result.output
    assert "0 → 2" in result.output and "reports in" in result.output
    result = runner.invoke(main, ["override", "bob", "05_attention", "--points", "4", "--reason", "late",
                                  "--by", "prof_x", "--db", str(db), "--reports", str(reports)])
    assert result.exit_code == 0, result.output

    # Reports: the class table marks it, the overview lists the trail, the student page shows before/after.
    index = (reports / "index.html").read_text()
    assert "override" in index and "prof_x" in index and "mask right, &lt;b&gt;off by one&lt;/b&gt;" in index
    alice = (reports / "students" / page_name("alice")).read_text()
    assert "4 / 5" in alice and "(computed: 2 / 5)" in alice and "0 → 2" in alice
    assert "<b>" not in alice

    # Exports: csv, json and gradebook carry the new scores.
    records = {r["student"]: r for r in csv.DictReader(io.StringIO(
        runner.invoke(main, ["export", "--db", str(db), "--format", "csv"]).output))}
    assert (records["alice"]["score"], records["bob"]["score"]) == ("4.0", "4.0")
    as_json = json.loads(runner.invoke(main, ["export", "--db", str(db), "--format", "json"]).output)
    assert [r["score"] for r in as_json] == [4.0, 4.0]
    book = list(csv.reader(io.StringIO(runner.invoke(main, ["export", "--db", str(db), "--format", "gradebook"]).output)))
    assert book[1][-1] == "4.0" and book[2][-1] == "4.0"
    out = tmp_path / "gs"
    assert runner.invoke(main, ["export", "--db", str(db), "--format", "gradescope", "--out", str(out)]).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    alice_gs = json.loads((out / manifest[0]["results"]).read_text())
    assert alice_gs["score"] == 4.0 and alice_gs["tests"][1]["score"] == 2.0

    # Feedback: the student sees the adjustment and its reason.
    fb = tmp_path / "fb"
    assert runner.invoke(main, ["feedback", "--db", str(db), "--out", str(fb)]).exit_code == 0
    page = (fb / page_name("alice")).read_text()
    assert "Adjusted by the course staff" in page and "0 → 2 points" in page


def test_cli_refuses_an_override_for_a_missing_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["override", "a", "b", "--points", "1", "--reason", "r",
                                       "--db", str(tmp_path / "nope.db")])
    assert result.exit_code == 1 and "no database" in result.output
