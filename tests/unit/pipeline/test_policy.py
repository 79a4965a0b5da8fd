"""The course's policy over a class (grader/pipeline/policy.py) through `grade_folder`, no notebook run.

The issue's acceptance case: a roster of 30, 25 submissions (2 not on the roster), 3 late (one inside
the grace period, one 2 days late, one past max_days_late), 1 extension. Every submission's grade is
recorded in the gradebook beforehand against its real fingerprint, so `grade_folder` reuses them all
(as it does for an unchanged class) and runs the policy exactly as `grade PATH` does; only the worker
pool is replaced by in-process grading, which here settles the 7 missing hand-ins without a kernel.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from grader import models as m
from grader.discover import discover
from grader.export import export_records, write_canvas
from grader.kinds import load_course
from grader.pipeline import pool
from grader.pipeline.folder import RunRequest, grade_folder
from grader.pipeline.policy import load_policy, reapply
from grader.pipeline.preflight import CourseCheck
from grader.pipeline.submission import grade_and_time
from grader.store.gradebook import Gradebook
from grader.store.overrides import apply_overrides
from tests.factories import make_grade

REPO = Path(__file__).resolve().parents[3]
NB = "05_attention_mechanism"
DUE = "2026-11-02T23:59:00+01:00"
ON_TIME = "2026-11-02T20:00:00+01:00"
COURSE_YAML = f"""title: "Policy"
assignments: [{NB}]
deadlines:
  {NB}: {DUE}
late_policy:
  per_day_percent: {{per_day}}
  grace_minutes: 15
  max_days_late: 3
"""
ROSTER = [f"s{i:02d}" for i in range(1, 31)]
HANDED_IN = ROSTER[:23] + ["x_stranger", "y_stranger"]  # 25 submissions, 2 of them not on the roster
RAW = {"s01": 17.0, "s02": 15.0, "s03": 18.0, "s04": 19.0}  # everyone else: 16 of 20
TIMES = {
    "s01": "2026-11-03T00:09:00+01:00",  # 10 minutes late: inside the 15-minute grace period
    "s02": "2026-11-04T12:00:00+01:00",  # 36 h late: 2 started days
    "s03": "2026-11-07T10:00:00+01:00",  # 5 started days, past max_days_late (3): scores 0
    "s04": "2026-11-05T10:00:00+01:00",  # 3 days after the deadline, but s04 has an extension
}


def write_course(root: Path, per_day: int = 10) -> Path:
    (root / "rubrics").mkdir(parents=True)
    shutil.copy(REPO / "rubrics" / f"{NB}.yaml", root / "rubrics")
    shutil.copytree(REPO / "reference" / NB, root / "reference" / NB)
    (root / "course.yaml").write_text(COURSE_YAML.format(per_day=per_day))
    (root / "roster.csv").write_text("student,name,email,section\n" + "".join(
        f"{s},Student {s[1:]},{s}@uni.example,{'A' if i % 2 else 'B'}\n" for i, s in enumerate(ROSTER)))
    (root / "extensions.csv").write_text(f"student,assignment,due\ns04,{NB},2026-11-06T23:59:00+01:00\n")
    return root


def write_class(root: Path) -> tuple[Path, Path]:
    """The submissions folder (a notebook each, distinct bytes) and the manifest of their times."""
    subs = root / "submissions"
    for student in HANDED_IN:
        (subs / student).mkdir(parents=True)
        (subs / student / f"{NB}.ipynb").write_text('{"cells": [], "metadata": {}, "student": "%s"}' % student)
    manifest = root / "submitted_at.csv"
    manifest.write_text("student,assignment,submitted_at\n" + "".join(
        f"{s},{NB},{TIMES.get(s, ON_TIME)}\n" for s in HANDED_IN))
    return subs, manifest


def record_grades(db: Path, course_root: Path, subs: Path) -> None:
    """What an earlier run computed for each submission (the tests' raw scores), against its fingerprint."""
    course = load_course(course_root)
    assignment = course.assignments[NB]
    with Gradebook(db) as store:
        run = store.start_run({})
        for submission in discover(subs, course):
            store.record(run, make_grade(submission.student, NB, tests=(), score=RAW.get(submission.student, 16.0),
                                         max_score=20.0, fingerprint=assignment.fingerprint(submission)))
        store.finish_run(run)


@pytest.fixture
def no_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Grade in this process instead of a pool of sandboxed workers; skip the reference pre-flight."""
    monkeypatch.setattr(pool, "check_course", lambda course, names, **options: CourseCheck())
    monkeypatch.setattr(pool, "_run_pool", lambda todo, course, options: (
        grade_and_time(s, course.assignments[s.assignment], options, 0) for s in todo))


def run(tmp_path: Path, course_root: Path, subs: Path, manifest: Path | None):  # type: ignore[no-untyped-def]
    request = RunRequest(path=subs, db=str(tmp_path / "grade.db"), reports_dir=tmp_path / "reports", sandbox=False,
                         submitted_at=manifest)
    return grade_folder(request, load_course(course_root))


def exported(db: Path) -> dict[str, dict]:
    with Gradebook(db) as store:
        grades = apply_overrides(store.latest_grades(), store.overrides())
        roster = [r.student for r in store.roster()]
    return {r["student"]: r for r in export_records(grades, roster)}


def test_roster_of_30_with_25_submissions_3_late_and_1_extension(tmp_path: Path, no_pool: None) -> None:
    course_root = write_course(tmp_path / "course")
    subs, manifest = write_class(tmp_path)
    record_grades(tmp_path / "grade.db", course_root, subs)

    outcome = run(tmp_path, course_root, subs, manifest)

    assert outcome.result.graded == 7 and outcome.result.reused == 25  # the 7 missing: settled, no notebook run
    assert outcome.missing_students == tuple(ROSTER[23:])
    assert outcome.strangers == ("x_stranger", "y_stranger")
    assert outcome.untimed == 0  # the manifest gave every hand-in its time
    records = exported(tmp_path / "grade.db")
    assert len(records) == 32  # 30 on the roster + 2 strangers
    figures = {s: (r["status"], r["raw_score"], r["late_penalty"], r["score"], r["days_late"], r["on_roster"])
               for s, r in records.items()}
    assert figures["s01"] == ("graded", 17.0, 0.0, 17.0, 0, True)  # grace period
    assert figures["s02"] == ("graded", 15.0, 4.0, 11.0, 2, True)  # 2 days x 10 % of 20 points
    assert figures["s03"] == ("graded", 18.0, 18.0, 0.0, 5, True)  # past max_days_late: 0, still graded
    assert figures["s04"] == ("graded", 19.0, 0.0, 19.0, 0, True)  # on time against the extension
    for student in ROSTER[4:23]:
        assert figures[student] == ("graded", 16.0, 0.0, 16.0, 0, True), student
    for student in ROSTER[23:]:
        assert figures[student] == ("missing", 0.0, 0.0, 0.0, 0, True), student
        assert records[student]["submitted_at"] is None
    for student in ("x_stranger", "y_stranger"):
        assert figures[student] == ("graded", 16.0, 0.0, 16.0, 0, False)
    assert records["s04"]["due_at"] == "2026-11-06T23:59:00+01:00"
    assert records["s02"]["submitted_at"] == TIMES["s02"] and records["s02"]["due_at"] == DUE
    assert sum(r["score"] for r in records.values()) == 17 + 11 + 0 + 19 + 16 * 21

    with Gradebook(tmp_path / "grade.db") as store:
        grades = {g.student: g for g in store.latest_grades()}
        roster = store.roster()
    assert "past" not in grades["s02"].late.message and "scores 0" in grades["s03"].late.message
    assert "grace period" in grades["s01"].late.message
    canvas = io.StringIO(newline="")
    left_out = write_canvas(list(grades.values()), canvas, roster=roster)
    rows = list(csv.reader(io.StringIO(canvas.getvalue(), newline="")))
    assert left_out == ["x_stranger", "y_stranger"] and len(rows) == 2 + 30
    assert rows[1] == ["Points Possible", "", "", "", "", "20"]
    assert {r[3]: r[5] for r in rows[2:]} == {s: {"s01": "17", "s02": "11", "s03": "0", "s04": "19"}.get(
        s, "16" if s in HANDED_IN else "0") for s in ROSTER}

    index = (tmp_path / "reports" / "index.html").read_text()
    assert "Not on the roster" in index and "x_stranger" in index and "2 d late −4" in index
    assert "raw 15 / 20, late penalty 4, final 11 / 20" in index


def test_a_changed_policy_or_extension_reapplies_without_running_a_notebook(tmp_path: Path, no_pool: None) -> None:
    course_root = write_course(tmp_path / "course")
    subs, manifest = write_class(tmp_path)
    record_grades(tmp_path / "grade.db", course_root, subs)
    run(tmp_path, course_root, subs, manifest)

    # grade PATH again, the late policy halved, no manifest this time: every grade reused, the times kept.
    (course_root / "course.yaml").write_text(COURSE_YAML.format(per_day=5))
    again = run(tmp_path, course_root, subs, None)
    assert again.result.graded == 0 and again.result.reused == 32
    records = exported(tmp_path / "grade.db")
    assert (records["s02"]["late_penalty"], records["s02"]["score"]) == (2.0, 13.0)
    assert records["s03"]["score"] == 0.0 and records["s01"]["score"] == 17.0

    # grade policy: an extension for s02 until after its hand-in; nothing is graded, one result changes.
    (course_root / "extensions.csv").write_text(f"student,assignment,due\ns04,{NB},2026-11-06T23:59:00+01:00\n"
                                                f"s02,*,2026-11-05T12:00:00Z\n")
    course = load_course(course_root)
    with Gradebook(tmp_path / "grade.db") as store:
        outcome = reapply(store, course, load_policy(course))
        assert (outcome.changed, outcome.added) == (1, 0)
        assert reapply(store, course, load_policy(course)).run_id is None  # applied twice: nothing new
    records = exported(tmp_path / "grade.db")
    assert (records["s02"]["late_penalty"], records["s02"]["score"], records["s02"]["days_late"]) == (0.0, 15.0, 0)


def test_an_override_fixes_the_raw_score_and_the_late_penalty_still_applies() -> None:
    late = m.Lateness(due_at=m.datetime.fromisoformat(DUE), submitted_at=m.datetime.fromisoformat(TIMES["s02"]),
                      days_late=2, penalty_percent=20.0)
    grade = make_grade("s02", NB, tests=(), score=15.0, max_score=20.0, late=late)
    assert (grade.late_penalty, grade.final_score) == (4.0, 11.0)
    assert replace(grade, score=18.0).final_score == 14.0  # after a whole-assignment override to 18
    assert replace(grade, score=3.0).final_score == 0.0  # the penalty never takes more than was earned
    assert replace(grade, late=replace(late, penalty_percent=100.0)).final_score == 0.0


def test_commit_dates_are_read_only_from_git_folders_and_a_manifest_beats_them(tmp_path: Path) -> None:
    """--trust-commit-dates: HEAD's committer date of each student's clone, for every assignment."""
    import os
    import subprocess

    from grader.pipeline.policy import commit_times

    subs = tmp_path / "subs"
    (subs / "ada").mkdir(parents=True)
    (subs / "bob").mkdir()
    (subs / "ada" / f"{NB}.ipynb").write_text("{}")
    env = {**os.environ, "GIT_COMMITTER_DATE": "2026-11-03T10:00:00+01:00", "GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z",
           "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "hand in"]):
        subprocess.run(["git", "-C", str(subs / "ada"), *args], check=True, env=env, capture_output=True)

    times = commit_times(subs)
    assert times.times == {("ada", "*"): m.datetime.fromisoformat("2026-11-03T10:00:00+01:00")}  # bob: no git
    manifest = tmp_path / "times.csv"
    manifest.write_text(f"student,assignment,submitted_at\nada,{NB},2026-11-01T10:00:00Z\n")
    course_root = write_course(tmp_path / "course")
    policy = load_policy(load_course(course_root), submitted_at=manifest, commit_dates_in=subs)
    assert policy.times.get("ada", NB) == m.datetime.fromisoformat("2026-11-01T10:00:00+00:00")
