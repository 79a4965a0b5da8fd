"""Resume after a crash: SIGKILL `grade` in the middle of a run, run it again.

Finished results are kept and reused, nothing is counted twice, the killed run is marked
interrupted, and no worker, kernel or sandbox outlives the grader that started it.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from grader.sandbox import cgroups
from grader.kinds import load_course
from grader.discover import discover
from grader.options import GradingOptions
from grader.pipeline.pool import grade_class
from grader.sandbox.bwrap import Limits
from grader.store.gradebook import Gradebook
from tests.conftest import REPO, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox]

ASSIGNMENT = "05_attention_mechanism"
# Demo students whose notebook-05 grade is quick and known (tests/fixtures/demo/).
SCORES = {"ada_lovelace": 48.0, "alan_turing": 48.0, "dara_missing_scale": 37.0, "eli_mask_after_softmax": 34.0}


def make_class(root: Path, size: int) -> dict[str, float]:
    """`size` students, each a renamed copy of a demo submission; returns student -> expected score."""
    expected = {}
    demo = sorted(SCORES)
    for index in range(size):
        source = demo[index % len(demo)]
        student = f"s{index:03d}_{source}"
        shutil.copytree(REPO / "submissions" / source, root / student)
        expected[student] = SCORES[source]
    return expected


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def still_running(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {command_line(process)[:120]}")
        except psutil.NoSuchProcess:
            pass
    return alive


def command_line(process: psutil.Process) -> str:
    """The process's command line, or "" for one that exited (or is a zombie) since it was listed."""
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):  # ZombieProcess is a NoSuchProcess
        return ""


def stored_results(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created or not migrated yet


def test_sigkill_mid_run_then_rerun_keeps_finished_results_once(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    expected = make_class(tmp_path / "class", 8)
    db = tmp_path / "g.db"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    command = [sys.executable, "-c", "from grader.cli import main; main()", "run", str(tmp_path / "class"), "--db", str(db),
               "--reports", str(tmp_path / "reports"), "--only", ASSIGNMENT, "--jobs", "1",
               "--course", str(REPO), "--timeout", "120"]
    grader = subprocess.Popen(command, cwd=REPO, env={**os.environ, "TMPDIR": str(scratch)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while stored_results(db) < 2:
        assert grader.poll() is None, f"grade exited early: {grader.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "no results after 180 s"
        time.sleep(0.1)
    family = descendants(grader.pid)
    workers = [p.pid for p in family if "forkserver" not in command_line(p)]
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    finished_before = stored_results(db)
    assert 2 <= finished_before < len(expected), "the run was not interrupted in the middle"

    # Nothing outlives the grader: forkserver, workers, bwrap, kernels.
    deadline = time.monotonic() + 15
    while still_running(family) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert workers and still_running(family) == []

    course = load_course(REPO)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the killed workers' scratch lies
    with Gradebook(db) as store:
        result = grade_class(discover(tmp_path / "class", course, only={ASSIGNMENT}), course, store,
                             GradingOptions(jobs=2, limits=Limits(submission_timeout_s=120, torch_threads=1)))
        runs = store.runs()
        latest = store.latest_grades()

    assert [r.status for r in runs] == ["interrupted", "finished"]
    assert runs[0].pid == grader.pid
    assert result.reused == finished_before and result.graded == len(expected) - finished_before
    assert Counter(g.student for g in result.grades) == Counter(expected.keys())  # each exactly once
    assert {g.student: g.score for g in latest} == expected
    with sqlite3.connect(db) as conn:
        per_run = dict(conn.execute("SELECT run_id, count(*) FROM results GROUP BY run_id").fetchall())
        doubled = conn.execute("SELECT s.student, r.run_id, count(*) FROM results r JOIN submissions s "
                               "ON s.id = r.submission_id GROUP BY s.student, r.run_id HAVING count(*) > 1").fetchall()
        reused_from_first = conn.execute(
            "SELECT count(*) FROM results r JOIN results o ON o.id = r.reused_from_result_id "
            "WHERE r.run_id = ? AND o.run_id = ?", (runs[1].id, runs[0].id)).fetchone()[0]
    assert per_run == {runs[0].id: finished_before, runs[1].id: len(expected)}
    assert doubled == []
    assert reused_from_first == finished_before

    # What the killed workers left (their cgroups, their scratch folders) is gone after the rerun.
    for pid in workers:
        for parent in cgroups.grade_parents():
            assert not list(parent.glob(f"slot*-{pid}-*"))
    assert not [p for p in scratch.iterdir() if p.name.startswith("grade-")]

