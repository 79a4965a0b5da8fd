"""Manual grading end to end through the CLI and the real sandbox: a small course (course B's notebook
with a written question, its homework with a REPORT.md) is graded; `grade status` and the run say what
awaits manual grading; `grade manual` grades an answer; the export and the feedback page show the
points, the items and the comment; a regrade without a reason is refused."""

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

from grader.reports.text import page_name
from tests.conftest import REPO, requires_runnable_interpreter, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox, requires_runnable_interpreter]
COURSE_B = REPO / "tests" / "fixtures" / "course-b"
NOTEBOOK = "01_softmax_regression.ipynb"
MANUAL = """
  - name: "Why subtract the max before exp?"
    manual:
      answer: why_shift
      items:
        - {id: overflow, points: 2, description: "exp of a large logit overflows to inf"}
        - {id: invariant, points: 1, description: "softmax is unchanged by a constant shift"}
        - {id: wrong, points: -1, description: "claims it changes the probabilities"}
      comments: ["See the numerical stability slide."]
"""
REPORT_PART = """
  - name: "Report: how the model was evaluated"
    manual:
      answer: REPORT.md
      items:
        - {id: heldout, points: 3, description: "evaluates on data not used for training"}
"""
HOSTILE = "exp(1000) is inf <script>alert(1)</script><img src=x onerror=alert(2)>"


def grade(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", "from grader.cli import main; main()", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def with_answer(source: Path, dest: Path, cells: list[dict]) -> None:
    notebook = json.loads(source.read_text())
    notebook["cells"] += cells
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(notebook))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Course B with a written question in its notebook's rubric and a report in its homework's, graded."""
    root = tmp_path_factory.mktemp("manual")
    course = root / "course"
    shutil.copytree(COURSE_B, course, ignore=shutil.ignore_patterns("submissions"))
    rubric = course / "rubrics" / "01_softmax_regression.yaml"
    rubric.write_text(rubric.read_text() + MANUAL)
    homework = course / "rubrics" / "homework.yaml"
    homework.write_text(homework.read_text() + REPORT_PART)
    subs = root / "subs"
    question = {"cell_type": "markdown", "metadata": {}, "source": "**Written answer (why_shift)**: why the max?"}
    with_answer(COURSE_B / "submissions" / "bea_right" / NOTEBOOK, subs / "bea_right" / NOTEBOOK, [
        question, {"cell_type": "markdown", "metadata": {"grade": {"written": "why_shift"}}, "source": HOSTILE}])
    with_answer(COURSE_B / "submissions" / "cal_partly_wrong" / NOTEBOOK, subs / "cal_partly_wrong" / NOTEBOOK, [
        question, {"cell_type": "markdown", "metadata": {}, "source": "It keeps exp finite."}])  # metadata lost
    (subs / "eve_report" / "model").mkdir(parents=True)
    (subs / "eve_report" / "model" / "config.json").write_text("not json")  # refused: the report is still read
    (subs / "eve_report" / "REPORT.md").write_text("# Report\nI evaluated on a held-out split.")
    done = grade(str(subs), "--course", str(course), "--db", "g.db", "--reports", "reports", "--jobs", "2", cwd=root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "awaiting manual grading: 3 written answer(s) in 3 result(s)" in done.stdout
    return root


def export(course: Path) -> dict[tuple[str, str], dict[str, str]]:
    done = grade("export", "--format", "csv", "--db", "g.db", cwd=course)
    assert done.returncode == 0, done.stderr
    return {(r["student"], r["assignment"]): r for r in csv.DictReader(io.StringIO(done.stdout))}


def test_grading_a_written_answer_from_the_shell_reaches_the_export_and_feedback(course: Path) -> None:
    before = export(course)
    bea = before[("bea_right", "01_softmax_regression")]
    assert (bea["score"], bea["max_score"], bea["awaiting_manual"]) == ("10.0", "13.0", "True")
    assert before[("eve_report", "homework")]["awaiting_manual"] == "True"
    assert before[("bea_right", "homework")]["awaiting_manual"] == "False"  # nothing handed in: nothing to grade

    status = grade("status", "--db", "g.db", cwd=course)
    assert status.returncode == 0, status.stderr
    assert "01_softmax_regression why_shift (Why subtract the max before exp?): 0 of 2 graded" in status.stdout
    assert "homework REPORT.md (Report: how the model was evaluated): 0 of 1 graded" in status.stdout

    shown = grade("manual", "01_softmax_regression", "why_shift", "cal_partly_wrong", "--show", "--db", "g.db",
                  cwd=course)
    assert "It keeps exp finite." in shown.stdout  # found after its question though the metadata was lost

    done = grade("manual", "01_softmax_regression", "why_shift", "bea_right", "--items", "overflow,invariant",
                 "--adjust", "-0.5", "--comment", "Clear; mention underflow too.", "--by", "tom", "--db", "g.db",
                 "--course", str(course / "course"), cwd=course)
    assert done.returncode == 0, done.stderr
    assert "bea_right 01_softmax_regression why_shift: 2.5 points (version 1), by tom" in done.stderr
    assert "reports in reports updated" in done.stderr

    again = grade("manual", "01_softmax_regression", "why_shift", "bea_right", "--items", "overflow", "--db", "g.db",
                  cwd=course)
    assert again.returncode == 1 and "pass --reason to regrade it" in again.stderr
    typo = grade("manual", "01_softmax_regression", "why_shif", "bea_right", "--db", "g.db", cwd=course)
    assert typo.returncode == 1 and "its manual parts: why_shift" in typo.stderr

    after = export(course)[("bea_right", "01_softmax_regression")]
    assert (after["score"], after["manual_points"], after["awaiting_manual"]) == ("12.5", "2.5", "False")
    assert "exp of a large logit overflows to inf" in after["manual"] and "Clear; mention underflow too." in after["manual"]

    done = grade("feedback", "--out", "fb", "--db", "g.db", cwd=course)
    assert done.returncode == 0, done.stderr
    page = (course / "fb" / page_name("bea_right")).read_text()
    assert "Clear; mention underflow too." in page and "softmax is unchanged by a constant shift" in page
    assert "12.5 / 13" in page and "<script>" not in page
    staff = (course / "reports" / "students" / page_name("bea_right")).read_text()
    assert "Clear; mention underflow too." in staff and "&lt;script&gt;alert(1)&lt;/script&gt;" in staff
    assert "<script>" not in staff and "onerror=alert(2)>" not in staff

    eve = grade("manual", "homework", "REPORT.md", "eve_report", "--show", "--db", "g.db", cwd=course)
    assert "I evaluated on a held-out split." in eve.stdout
