"""`grade PATH` ends with the matrix, the results not graded, and the totals; --verbose adds every result."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

import grader.models as m
import grader.pipeline.folder
from grader.cli import main
from grader.pipeline.preflight import CourseCheck

FP = m.Fingerprint("s", "t", "r", "u", "0")


def grade(student: str, assignment: str, status: m.Status, score: float = 0.0, message: str = "") -> m.Grade:
    return m.Grade(student=student, assignment=assignment, status=status, score=score, max_score=20.0,
                   message=message, fingerprint=FP)


@pytest.fixture
def graded(monkeypatch: pytest.MonkeyPatch) -> None:
    grades = [grade("ada", "05_attention", m.Status.GRADED, 20.0),
              grade("ada", "homework", m.Status.MISSING, message="no model/ folder found in your submission"),
              grade("ivan", "05_attention", m.Status.TIMEOUT, message="cell 8 ran longer than 60 s"),
              grade("ivan", "homework", m.Status.GRADED, 3.4166)]
    result = SimpleNamespace(grades=grades, run_id=1, reused=0, graded=4, seconds=1.5, stages={},
                             course_check=CourseCheck())
    outcome = SimpleNamespace(result=result, db="grade.db", index=Path("reports/index.html"), stages={"execute": 1.0},
                              strangers=(), missing_students=(), untimed=0)
    monkeypatch.setattr(grader.pipeline.folder, "grade_folder", lambda request, course, progress=None: outcome)


def test_grade_prints_the_matrix_then_what_was_not_graded(graded: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [str(tmp_path), "--jobs", "1"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert "student 05 (20) homework (20)" in lines
    assert "ada 20 –" in lines and "ivan timeout 3.4" in lines
    assert "ivan 05 timeout cell 8 ran longer than 60 s" in lines
    assert "4 graded, 0 unchanged (reused) in 1.5 s; database grade.db; report reports/index.html" in lines
    assert "no model/ folder" not in result.output and "grade summary" not in result.output


def test_verbose_lists_every_result(graded: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [str(tmp_path), "--verbose"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "grade summary" in result.output and "no model/ folder found in your submission" in result.output
    assert "student 05 (20) homework (20)" in [" ".join(line.split()) for line in result.output.splitlines()]


def test_without_the_students_environment_grading_stops_saying_how_to_build_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import REPO

    monkeypatch.setattr(grader.pipeline.folder.sandbox, "probe", lambda limits: None)  # as on a sandbox host
    result = CliRunner().invoke(main, [str(tmp_path), "--course", str(REPO), "--db", str(tmp_path / "g.db")],
                                env={"COLUMNS": "300", "GRADE_KERNEL_ENVS": str(tmp_path / "none")})
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "the students' environment (course.yaml `packages:`) is not built" in said
    assert "build it with `grade env build --course COURSE`" in said
    assert not (tmp_path / "g.db").exists()  # stopped before anything was recorded


@pytest.mark.parametrize(("argv", "warm"), [([], True), (["--kernel-start", "warm"], True),
                                            (["--kernel-start", "cold"], False)])
def test_kernel_start_reaches_the_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str],
                                      warm: bool) -> None:
    """Warm (forked from a template) by default; cold is the bwrap start of before."""
    seen = []

    def grade_folder(request, course, progress=None):  # type: ignore[no-untyped-def]
        seen.append(request.warm_kernels)
        raise SystemExit(0)

    monkeypatch.setattr(grader.pipeline.folder, "grade_folder", grade_folder)
    result = CliRunner().invoke(main, [str(tmp_path), *argv])
    assert seen == [warm], result.output


def test_an_unknown_kernel_start_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [str(tmp_path), "--kernel-start", "lukewarm"])
    assert result.exit_code == 2 and "lukewarm" in result.output


@pytest.mark.parametrize(("argv", "stamps"), [([], True), (["--recheck-course"], False)])
def test_recheck_course_reaches_the_pre_flight(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str],
                                               stamps: bool) -> None:
    """`grade run` lets stamps vouch for an unchanged course; --recheck-course checks it for real."""
    from tests.conftest import REPO

    seen = []

    def grade_class(submissions, course, store, options, **listeners):  # type: ignore[no-untyped-def]
        seen.append(options.course_stamps)
        raise SystemExit(0)

    monkeypatch.setattr(grader.pipeline.folder, "grade_class", grade_class)
    result = CliRunner().invoke(main, [str(REPO / "submissions"), "--course", str(REPO), "--no-sandbox",
                                       "--only", "05_attention_mechanism", "--db", str(tmp_path / "g.db"), *argv])
    assert seen == [stamps], result.output


def test_a_remembered_course_check_is_a_line_of_its_own(graded: None, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timezone

    outcome = grader.pipeline.folder.grade_folder(None, None)
    when = datetime(2026, 12, 3, 16, 50, 12, tzinfo=timezone.utc)
    outcome.result.course_check = CourseCheck(remembered={"05_attention": when})
    result = CliRunner().invoke(main, [str(tmp_path)], env={"COLUMNS": "300"})
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert ("course checked: 05_attention unchanged since 2026-12-03 16:50 UTC (it passed then; --recheck-course "
            "checks it again)") in lines
    assert lines[-1].startswith("time per stage (summed over ") and lines[-2].startswith("4 graded, ")
