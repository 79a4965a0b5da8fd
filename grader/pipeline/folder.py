"""`grade PATH`: the instructor's job, from a folder of submissions to stored grades and reports."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from grader.course.assignments import Course
from grader.course.environment import kernel_interpreter
from grader.discover import discover
from grader.errors import GradeError
from grader.models import Grade
from grader.options import GradingOptions
from grader.pipeline.policy import load_policy
from grader.pipeline.pool import ClassResult, cpu_count, grade_class, start_forkserver
from grader.reports.overview import strangers
from grader.reports.write import write_reports
from grader.sandbox import bwrap as sandbox
from grader.sandbox.bwrap import Limits
from grader.sandbox.limits import MiB
from grader.store.gradebook import Gradebook
from grader.store.manual import apply_manual


@dataclass(frozen=True)
class RunRequest:
    path: Path
    db: str = "grade.db"
    reports_dir: Path = Path("reports")
    timeout_s: float = 300.0
    cell_timeout_s: float = 60.0
    jobs: int = 1
    sandbox: bool = True
    force: bool = False
    only: frozenset[str] = frozenset()
    cluster: str | None = None  # a Dask scheduler address, or "local:N"
    memory_mb: int = 4096  # each sandbox's memory cap (course.yaml defaults.memory_mb)
    submitted_at: Path | None = None  # the trusted manifest of submission times (student,assignment,submitted_at)
    trust_commit_dates: bool = False  # take each student folder's HEAD commit date as its submission time
    warm_kernels: bool = True  # fork sandboxed kernels from a warm template (--kernel-start warm), else bwrap
    recheck_course: bool = False  # check the course even where a stamp says it is unchanged since it passed


@dataclass(frozen=True)
class RunOutcome:
    result: ClassResult
    db: str
    index: Path
    strangers: tuple[str, ...] = ()  # graded, but not on the roster
    missing_students: tuple[str, ...] = ()  # on the roster, with no submission folder at all
    untimed: int = 0  # hand-ins with a due time but no trusted submission time (counted as on time)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage, workers' summed


class ProgressListener:
    """What a progress display is told: what the run is doing before grading starts, the total
    once, then each result as it is stored."""

    def phase(self, description: str) -> None: ...

    def start(self, total: int) -> None: ...

    def advance(self, grade: Grade, reused: bool) -> None: ...


_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grade-probe")


def torch_threads(jobs: int, cluster: str | None) -> int:
    """Threads per sandbox so that the jobs side by side use the CPUs without oversubscribing."""
    side_by_side = jobs
    if cluster and cluster.startswith("local:") and cluster[6:].isdigit():
        side_by_side = int(cluster[6:])
    return max(1, cpu_count() // max(1, side_by_side))


def grade_folder(request: RunRequest, course: Course, progress: ProgressListener | None = None) -> RunOutcome:
    """Grade every submission under request.path against `course` (grader/kinds.py loads it)."""
    started = time.monotonic()
    unknown = request.only - set(course.assignments)
    if unknown:
        raise GradeError(f"unknown assignment(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(course.assignments))}")
    limits = Limits(submission_timeout_s=request.timeout_s,
                    cell_timeout_s=min(request.cell_timeout_s, request.timeout_s),
                    memory_bytes=request.memory_mb * MiB, torch_threads=torch_threads(request.jobs, request.cluster))
    policy = load_policy(course, submitted_at=request.submitted_at,
                         commit_dates_in=request.path if request.trust_commit_dates else None)
    if not request.cluster:
        start_forkserver()  # its imports (seconds) run beside everything below (`grade run` started it earlier)
    # The sandbox's probe (a sandboxed python, 0.3-0.4 s of waiting) runs beside discovery; its verdict
    # comes first, before any other error and before anything is graded or recorded.
    probing = _BACKGROUND.submit(sandbox.probe, limits) if request.sandbox else None
    try:
        # Sandboxed kernels run the course's environment (course.yaml `packages:`), which must be built;
        # without the sandbox (your own code) they run grade's own, as `grade check` does.
        kernel = kernel_interpreter(course.config) if request.sandbox else None
        submissions = discover(request.path, course, only=set(request.only) or None)
    finally:
        if probing is not None:
            probing.result()  # raises SandboxUnavailable
    if not submissions:
        raise GradeError(f"no submissions found in {request.path}: expected <student>/ folders or <student>.zip files")
    absent = policy.missing(course, request.path, {s.student for s in submissions}, request.only)
    submissions += absent
    discovered = time.monotonic() - started
    options = GradingOptions(sandbox=request.sandbox, limits=limits, jobs=max(1, request.jobs), force=request.force,
                             cluster=request.cluster, kernel=kernel, warm_kernels=request.warm_kernels,
                             course_stamps=not request.recheck_course)
    listener = progress or ProgressListener()
    on_start: Callable[[int], None] = listener.start
    with Gradebook(request.db) as store:
        result = grade_class(submissions, course, store, options, on_start=on_start, on_grade=listener.advance,
                             on_phase=listener.phase, finish=policy.apply)
        policy.store_roster(store)  # after the course passed its pre-flight: a failed run stores nothing
        # The TAs' grades of written answers, as every later read applies them (the summary shows them too).
        result = replace(result, grades=apply_manual(result.grades, store.manual.all()))
        grades = store.latest_grades()
        overrides, runs, history, roster = store.overrides(), store.runs(), store.history(), store.roster()
    reporting = time.monotonic()
    index = write_reports([g for g in grades if g.assignment in course.assignments], request.reports_dir,
                          title=course.title, overrides=overrides, runs=runs, history=history, roster=roster)
    stages = {"discover": discovered, **result.stages, "report": time.monotonic() - reporting}
    return RunOutcome(result=result, db=request.db, index=index, stages=stages,
                      strangers=tuple(strangers({g.student for g in result.grades}, (r.student for r in roster))),
                      missing_students=tuple(sorted({s.student for s in absent})),
                      untimed=sum(1 for g in result.grades if g.late is not None and g.late.submitted_at is None))
