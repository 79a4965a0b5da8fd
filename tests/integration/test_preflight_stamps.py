"""An unchanged course's pre-flight costs nothing the second time: `grade run`, twice, in the real sandbox.

The first run checks notebook 05 (torch imported in the coordinator, the reference run against its
suites) and stamps it; the second, a new process with a new gradebook, finds the stamp, says so on a
line of its own, and never imports torch in the coordinator. --recheck-course checks it again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.store.gradebook import Gradebook
from tests.conftest import REPO, requires_runnable_interpreter, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox, requires_runnable_interpreter]

ASSIGNMENT = "05_attention_mechanism"
# `grade`, which on exit writes whether torch was ever imported in its own (the coordinator's) process
GRADE = ("import atexit, sys; from pathlib import Path; seen = Path(sys.argv.pop(1)); "
         "atexit.register(lambda: seen.write_text(str('torch' in sys.modules))); "
         "from grader.cli import main; main()")


def grade_run(tmp_path: Path, name: str, *extra: str) -> tuple[str, bool, dict[str, str]]:
    """stderr, whether the coordinator imported torch, and the run record's pre-flight."""
    db, torch_seen = tmp_path / f"{name}.db", tmp_path / f"{name}.torch"
    done = subprocess.run([sys.executable, "-c", GRADE, str(torch_seen), "run", str(tmp_path / "class"),
                           "--db", str(db), "--reports", str(tmp_path / f"{name}-reports"), "--only", ASSIGNMENT,
                           "--jobs", "1", "--course", str(REPO), "--timeout", "120", *extra],
                          cwd=REPO, env={**os.environ, "GRADE_PREFLIGHT_CACHE": str(tmp_path / "stamps"),
                                         "COLUMNS": "300"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with Gradebook(str(db)) as store:
        [run] = store.runs()
    return done.stderr, torch_seen.read_text() == "True", run.options["preflight"]


def test_a_second_run_of_an_unchanged_course_skips_the_pre_flight(tmp_path: Path) -> None:
    (tmp_path / "class" / "ada").mkdir(parents=True)
    shutil.copy(REPO / "submissions" / "ada_lovelace" / f"{ASSIGNMENT}.ipynb", tmp_path / "class" / "ada")

    said, torch_imported, preflight = grade_run(tmp_path, "first")
    assert torch_imported and preflight == {ASSIGNMENT: "checked"}
    assert "course checked:" not in said
    [stamp] = (tmp_path / "stamps").glob("*.json")
    written = stamp.stat().st_mtime_ns, json.loads(stamp.read_text())

    said, torch_imported, preflight = grade_run(tmp_path, "second")  # a new gradebook: ada is graded again
    assert not torch_imported, "the coordinator imported torch although the course was unchanged"
    since = written[1]["checked_at"]
    assert preflight == {ASSIGNMENT: f"unchanged since {since}"}
    lines = [" ".join(line.split()) for line in said.splitlines()]
    assert (f"course checked: {ASSIGNMENT} unchanged since {since[:10]} {since[11:16]} UTC (it passed then; "
            "--recheck-course checks it again)") in lines
    assert "1 graded, 0 unchanged (reused)" in said and lines[-1].startswith("time per stage (summed over 1 jobs): ")
    assert (stamp.stat().st_mtime_ns, json.loads(stamp.read_text())) == written

    said, torch_imported, preflight = grade_run(tmp_path, "third", "--recheck-course")
    assert torch_imported and preflight == {ASSIGNMENT: "checked"} and "course checked:" not in said
    assert stamp.stat().st_mtime_ns != written[0] and list((tmp_path / "stamps").iterdir()) == [stamp]
