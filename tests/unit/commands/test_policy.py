"""`grade policy` re-applies the course's policy to a gradebook; `grade export --format canvas|moodle` writes it out."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner

from grader import models as m
from grader.cli import main
from grader.store.gradebook import Gradebook
from tests.factories import make_grade
from tests.unit.pipeline.test_policy import DUE, NB, write_course


def test_grade_policy_then_export_to_canvas_and_moodle(tmp_path: Path) -> None:
    course = write_course(tmp_path / "course")
    db = tmp_path / "grade.db"
    submitted = datetime.fromisoformat("2026-11-04T12:00:00+01:00")  # 2 started days after DUE
    with Gradebook(db) as store:
        run = store.start_run({})
        store.record(run, make_grade("s01", NB, tests=(), score=15.0, max_score=20.0,
                                     late=m.Lateness(due_at=datetime.fromisoformat(DUE), submitted_at=submitted)))
        store.record(run, make_grade("zoe", NB, tests=(), score=12.0, max_score=20.0))
        store.finish_run(run)
    runner = CliRunner()

    applied = runner.invoke(main, ["policy", "--db", str(db), "--course", str(course),
                                   "--reports", str(tmp_path / "reports")])
    assert applied.exit_code == 0, applied.output
    # s01 two days late; zoe (not on the roster) gets the due time, with no trusted submission time
    assert "2 result(s) with a new lateness, 29 missing result(s) added" in " ".join(applied.output.split())

    canvas = runner.invoke(main, ["export", "--db", str(db), "--format", "canvas"])
    assert canvas.exit_code == 0, canvas.output
    rows = list(csv.reader(io.StringIO(canvas.stdout, newline="")))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", NB]
    assert rows[2] == ["Student 01", "", "", "s01", "B", "11"] and len(rows) == 32  # 15 - 2 x 10 % of 20
    warning = " ".join(canvas.stderr.split())
    assert "1 graded student(s) not on the roster are left out of the canvas file" in warning and "zoe" in warning

    moodle = runner.invoke(main, ["export", "--db", str(db), "--format", "moodle"])
    rows = list(csv.DictReader(io.StringIO(moodle.stdout, newline="")))
    assert rows[0]["Email address"] == "s01@uni.example" and rows[0][NB] == "11" and rows[1][NB] == "0"
