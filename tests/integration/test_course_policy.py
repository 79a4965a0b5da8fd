"""`grade PATH --course C --submitted-at FILE`, end to end, on a tiny real class: the roster, the late
policy and the LMS export wired through the CLI (the figures of a whole class: tests/unit/pipeline/test_policy.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox]
ASSIGNMENT = "05_attention_mechanism"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


def grade(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("grade")
    return subprocess.run([str(command), *args], cwd=root, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "300"})


def test_grade_path_with_a_roster_deadline_and_submission_times(tmp_path: Path) -> None:
    course = tmp_path / "course"
    (course / "rubrics").mkdir(parents=True)
    shutil.copy(REPO / "rubrics" / f"{ASSIGNMENT}.yaml", course / "rubrics")
    shutil.copytree(REPO / "reference" / ASSIGNMENT, course / "reference" / ASSIGNMENT)
    (course / "course.yaml").write_text(f"title: Tiny\nassignments: [{ASSIGNMENT}]\n"
                                        f"deadlines: {{{ASSIGNMENT}: 2026-11-02T23:59:00+01:00}}\n"
                                        "late_policy: {per_day_percent: 12.5, grace_minutes: 15, max_days_late: 3}\n")
    (course / "roster.csv").write_text("student,name,email,section\nada,Ada Lovelace,ada@uni.example,A\n"
                                       "bob,Bob Babbage,bob@uni.example,A\n")
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    shutil.copyfile(REPO / "reference" / ASSIGNMENT / NOTEBOOK, tmp_path / "subs" / "ada" / NOTEBOOK)
    (tmp_path / "subs" / "eve").mkdir()
    (tmp_path / "subs" / "eve" / NOTEBOOK).write_text("{ not json")  # rejected at once: no kernel
    (tmp_path / "times.csv").write_text("student,assignment,submitted_at\nada,*,2026-11-04T12:00:00+01:00\n"
                                        "eve,*,2026-11-01T12:00:00+01:00\n")

    done = grade(tmp_path, "subs", "--course", "course", "--db", "grade.db", "--reports", "reports", "--jobs", "1",
                 "--submitted-at", "times.csv")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 roster student(s) handed in nothing (recorded as missing): bob" in done.stderr
    assert "1 graded student(s) not on the roster" in done.stderr and "eve" in done.stderr

    exported = grade(tmp_path, "export", "--db", "grade.db", "--format", "json")
    records = {r["student"]: r for r in json.loads(exported.stdout)}
    ada = records["ada"]
    assert (ada["status"], ada["raw_score"], ada["late_penalty"], ada["score"], ada["days_late"]) == (
        "graded", 48.0, 13.75, 34.25, 2)  # the reference, 2 started days late: 12.5 % of 55 per day (48 from
    # the tests, the written answers' 7 awaiting a TA: the penalty is of the points possible)
    assert (ada["max_score"], ada["awaiting_manual"]) == (55.0, True)
    assert (records["bob"]["status"], records["bob"]["score"], records["bob"]["on_roster"]) == ("missing", 0.0, True)
    assert (records["eve"]["status"], records["eve"]["on_roster"]) == ("rejected", False)

    canvas = grade(tmp_path, "export", "--db", "grade.db", "--format", "canvas")
    rows = list(csv.reader(io.StringIO(canvas.stdout, newline="")))
    assert [r[3:6:2] for r in rows[2:]] == [["ada", "34.25"], ["bob", "0"]]
    assert "eve" in canvas.stderr and "left out" in canvas.stderr
    assert "Deadline" in next((tmp_path / "reports" / "students").glob("ada-*.html")).read_text()
