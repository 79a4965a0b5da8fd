"""`--cluster local:2` gives the same grades as the local pool, and leaves no process behind.

The pool side runs with spare kernels (each worker's next kernel started ahead), so the
comparison also shows a kernel started before its submission grades like a fresh one."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from grader.course.environment import kernel_interpreter
from grader.kernel.template import close_templates
from grader.kinds import load_course
from grader.discover import discover
from grader.models import Grade
from grader.options import GradingOptions
from grader.pipeline.pool import grade_class
from grader.sandbox.bwrap import Limits
from grader.store.gradebook import Gradebook
from tests.conftest import REPO, requires_sandbox
from tests.integration.test_resume import ASSIGNMENT, make_class

pytestmark = [pytest.mark.sandbox, requires_sandbox]


def verdicts(grades: list[Grade]) -> dict[str, tuple[str, float, tuple[tuple[str, str, float], ...]]]:
    return {g.student: (g.status.value, g.score, tuple(sorted((t.test_id, t.outcome, t.points) for t in g.tests)))
            for g in grades}


def leftovers() -> list[str]:
    """Descendants of this process that are sandboxes, kernels or grading workers.

    The forkserver and the resource tracker stay by design (one per process, idle)."""
    found = []
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            line = " ".join(child.cmdline())
            if child.status() == psutil.STATUS_ZOMBIE or "forkserver import main" in line or "resource_tracker" in line:
                continue
            found.append(f"{child.pid} {line[:120]}")
        except psutil.NoSuchProcess:
            pass
    return found


def test_local_cluster_grades_like_the_local_pool(tmp_path: Path) -> None:
    # Earlier tests that graded in this process left its own warm template (one per process, idle, by
    # design, like the forkserver): closed here, so anything found below is a worker's.
    close_templates()
    expected = make_class(tmp_path / "class", 4)
    course = load_course(REPO)
    submissions = discover(tmp_path / "class", course, only={ASSIGNMENT})
    limits = Limits(submission_timeout_s=120, torch_threads=1)
    kernel = kernel_interpreter(course.config)  # the students' environment, spares and Dask workers too
    with Gradebook(tmp_path / "pool.db") as store:
        pool = grade_class(submissions, course, store, GradingOptions(jobs=2, limits=limits, spare_kernels=True,
                                                                      kernel=kernel))
    assert leftovers() == []
    with Gradebook(tmp_path / "cluster.db") as store:
        cluster = grade_class(submissions, course, store, GradingOptions(cluster="local:2", limits=limits, kernel=kernel))
        assert [r.options["cluster"] for r in store.runs()] == ["local:2"]
    assert leftovers() == []

    assert {g.student: g.score for g in pool.grades} == expected
    assert verdicts(cluster.grades) == verdicts(pool.grades)
    assert cluster.graded == len(expected) and cluster.stages["execute"] > 0 and cluster.stages["checks"] > 0
