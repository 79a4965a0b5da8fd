"""A whole class: `grade_class` fans the submissions out to a pool of sandboxed worker
processes (or a Dask cluster), reuses unchanged results, and records
every result as soon as it arrives, so an interrupted run loses nothing it finished.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import shutil
import signal
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from grader.course.assignments import Assignment, Course
from grader.errors import InstructorError
from grader.kernel.spare import SCRATCH_PREFIX, SpareKernels
from grader.kernel.template import close_templates
from grader.models import Grade, RunState, Submission
from grader.options import GradingOptions
from grader.pipeline.preflight import CourseCheck, check_course
from grader.pipeline.stopwatch import Stopwatch
from grader.pipeline.submission import Graded, grade_and_time, grader_failure, needs_kernel
from grader.pipeline.template_imports import kernel_imports
from grader.sandbox.bwrap import claim_slot, die_with_parent, process_alive, remove_stale_cgroups

if TYPE_CHECKING:
    from grader.store.gradebook import Gradebook

# What only a worker needs (torch, pytest, jupyter_client: seconds of imports) is imported
# where it is used, so a coordinator with nothing to grade starts and finishes in a blink.
# Workers fork from a forkserver that imported all of it once.
WORKER_PRELOAD = ["grader.kernel.execute", "grader.kernel.bridge", "grader.checks.runner", "grader.checks.from_scratch",
                  "grader.course.reference", "grader.prepare", "grader.checks.tensors", "torch", "numpy",
                  "grader.pipeline.submission", "grader.pipeline.notebook", "grader.pipeline.pool"]


# -- a pool of sandboxed workers ---------------------------------------------------------
_worker_slot = 0
_spares: SpareKernels | None = None


def init_worker(torch_threads: int) -> None:
    """Runs first in every worker: die with the coordinator, take a sandbox slot, size torch."""
    global _worker_slot
    die_with_parent()  # the parent is the forkserver...
    _let_forkserver_see_the_coordinator_die()  # ...which exits when the coordinator does
    global _spares
    _worker_slot, _lock_fd = claim_slot()  # the locks are held for the worker's life
    spare_slot, _spare_lock_fd = claim_slot()
    _spares = SpareKernels((_worker_slot, spare_slot))
    multiprocessing.util.Finalize(None, _spares.close, exitpriority=10)  # runs when the pool shuts down
    multiprocessing.util.Finalize(None, close_templates, exitpriority=5)  # after the spares' kernels
    import torch

    torch.set_num_threads(max(1, torch_threads))  # the trusted side (reference, checks) shares the CPUs too


def _let_forkserver_see_the_coordinator_die() -> None:
    """Close this worker's copy of the forkserver's liveness pipe.

    The forkserver exits when the write ends of that pipe are all closed, and hands one
    to every worker it forks: left open, a SIGKILLed coordinator would leave the
    forkserver (and so the workers, whose parent it is) running forever.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def _grade_in_worker(submission: Submission, assignment: Assignment, options: GradingOptions,
                     prefetch: bool) -> Graded:
    """One task of the pool. With `prefetch`, the next submission's kernel starts now, beside this one."""
    if _spares is None or not needs_kernel(submission, assignment):
        return grade_and_time(submission, assignment, options, _spares.free_slot() if _spares else _worker_slot)
    spare = _spares.take()
    slot = spare.slot if spare is not None else _spares.slots[0]
    if prefetch:
        _spares.start(slot, options.limits, options.sandbox, options.kernel, options.warm_kernels, options.kernel_imports)
    return grade_and_time(submission, assignment, options, slot, spare)


@dataclass(frozen=True)
class ClassResult:
    grades: list[Grade]
    run_id: int
    reused: int
    graded: int
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage, summed over workers
    course_check: CourseCheck = field(default_factory=CourseCheck)  # what the pre-flight checked, and what stamps vouched for


def grade_class(submissions: list[Submission], course: Course, store: Gradebook, options: GradingOptions,
                *, on_start: Callable[[int], None] = lambda total: None,
                on_grade: Callable[[Grade, bool], None] = lambda grade, reused: None,
                on_phase: Callable[[str], None] = lambda description: None,
                finish: Callable[[Grade], Grade] = lambda grade: grade) -> ClassResult:
    """Grade every submission, reusing stored results whose fingerprint is unchanged.

    `finish` completes each grade before it is stored, reused ones included: the course's late
    policy (grader/pipeline/policy.py), so a changed deadline or extension reaches every result
    without running a notebook again.

    Each result is stored the moment it arrives, so a run killed half-way keeps what it
    finished; the next run marks it interrupted, reuses those results, and grades the rest.

    The course is checked first (grader/pipeline/preflight.py), for the assignments with
    something to grade: a mistake of the instructor's raises InstructorError before a run is
    recorded. One found later, by a worker, stops the pool, marks the run failed and raises;
    the results stored before it stay (each was graded against the course as it was).
    """
    started = time.monotonic()
    clock = Stopwatch()
    reusable: list[tuple[int, Grade]] = []
    todo: list[Submission] = []
    with clock.stage("store"):
        for submission in submissions:
            assignment = course.assignments[submission.assignment]
            found = None if options.force else store.find_reusable_result(
                submission.student, submission.assignment, assignment.fingerprint(submission))
            if found is not None and _same_isolation(found[1], options):
                reusable.append(found)
            else:
                todo.append(submission)
    options = options.scorers_warm_for(sum(course.assignments[s.assignment].kind.runs_scorer for s in todo))
    options = options.kernel_imports_for(kernel_imports({s.assignment: course.assignments[s.assignment] for s in todo}.values()))
    if todo and not options.cluster:
        _forkserver()  # its imports (seconds) run beside the pre-flight, on a CPU that would idle
    on_phase("checking the course")
    with clock.stage("preflight"):
        course_check = check_course(course, {submission.assignment for submission in todo},
                                    torch_threads=options.limits.torch_threads, stamps=options.course_stamps)
    remove_stale_cgroups()
    remove_stale_scratch()
    run_id = store.start_run({"jobs": options.jobs, "sandbox": options.sandbox, "force": options.force,
                              "timeout": options.limits.submission_timeout_s, "cluster": options.cluster,
                              "torch_threads": options.limits.torch_threads,
                              "kernel_start": "warm" if options.warm_kernels else "cold",
                              "scorer_start": "warm" if options.warm_scorers else "cold",
                              # what the sandboxed kernels ran: the course's environment, or grade's own
                              "kernel_python": str(options.kernel.executable) if options.kernel else "grade's own",
                              # each assignment graded: checked by this run's pre-flight, or unchanged since
                              "preflight": course_check.record()})
    grades: list[Grade] = []
    on_start(len(submissions))
    try:
        for result_id, grade in reusable:
            grade = finish(grade)
            with clock.stage("store"):
                store.record(run_id, grade, reused_from=result_id)
            grades.append(grade)
            on_grade(grade, True)
        if options.cluster:
            from grader.pipeline.cluster import run_on_cluster  # dask only when asked for

            results: Iterator[Graded] = run_on_cluster(todo, course, options)
        else:
            results = _run_pool(todo, course, options)
        for graded in results:
            clock.add(graded.stages)
            grade = finish(graded.grade)
            with clock.stage("store"):
                store.record(run_id, grade)
            grades.append(grade)
            on_grade(grade, False)
    except InstructorError:
        store.finish_run(run_id, RunState.FAILED)
        raise
    except BaseException:
        store.finish_run(run_id, RunState.INTERRUPTED)
        raise
    store.finish_run(run_id, RunState.FINISHED)
    return ClassResult(grades=grades, run_id=run_id, reused=len(reusable), graded=len(todo),
                       seconds=time.monotonic() - started, stages=clock.seconds, course_check=course_check)


def cpu_count() -> int:
    """CPUs this process may run on (a container's or a Slurm job's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _same_isolation(grade: Grade, options: GradingOptions) -> bool:
    """A result from an unsandboxed run is not reused by a sandboxed one."""
    return grade.execution is None or grade.execution.sandboxed or not options.sandbox


def remove_stale_scratch() -> None:
    """Remove the scratch folders of grading workers that no longer exist (killed mid-run)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and folder.is_dir() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _forkserver() -> multiprocessing.context.BaseContext:
    """The forkserver context the workers fork from, its server started now (once per process)."""
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
    forkserver.ensure_running()
    return context


def start_forkserver() -> None:
    """Start the workers' forkserver now: its imports (torch, seconds) run while the coordinator
    probes the sandbox, discovers, opens the gradebook and checks the course. A run that then has
    nothing to grade leaves it idle (`grade run` ends it as it exits)."""
    _forkserver()


def end_forkserver() -> None:
    """End this process's forkserver now, for a command about to exit (SIGKILL: it holds nothing).

    Left to notice the coordinator's exit on its own, it tears its imports (torch) down for most
    of a second while holding the command's stdout and stderr open, so a script that reads grade's
    output waited for it. A later grade_class in this process starts a new one."""
    from multiprocessing import forkserver

    server = forkserver._forkserver  # type: ignore[attr-defined]
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server._stop()  # reaps it and removes its socket


def _run_pool(todo: list[Submission], course: Course, options: GradingOptions) -> Iterator[Graded]:
    """Yield results as they finish. When a worker process dies (the host's OOM killer, say),
    the submissions it took down with it are graded again in a fresh pool; one that breaks
    a pool twice gets a grader-failure result, so a run always ends. A worker's
    InstructorError stops the pool and is raised."""
    if not todo:
        return
    context = _forkserver()
    pending = list(todo)
    breaks: dict[tuple[str, str], int] = {}
    while pending:
        jobs = max(1, min(options.jobs, len(pending)))
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=init_worker,
                                 initargs=(options.limits.torch_threads,)) as pool:
            # A spare kernel per worker only when the pool leaves CPUs idle (fewer jobs than
            # CPUs) and more work is coming; with every CPU busy it would only compete.
            spare_cpus = jobs < cpu_count() if options.spare_kernels is None else options.spare_kernels
            futures: dict[Future[Graded], Submission] = {
                pool.submit(_grade_in_worker, s, course.assignments[s.assignment], options,
                            spare_cpus and index < len(pending) - jobs): s
                for index, s in enumerate(pending)
            }
            pending = []
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    submission = futures.pop(future)
                    try:
                        yield future.result()
                    except InstructorError:
                        # The course is wrong: nothing queued starts; the tasks running finish
                        # (their sandboxes close cleanly) and their results are dropped.
                        pool.shutdown(wait=True, cancel_futures=True)
                        raise
                    except BrokenProcessPool as error:
                        key = (submission.student, submission.assignment)
                        breaks[key] = breaks.get(key, 0) + 1
                        if breaks[key] >= 2:
                            yield Graded(grader_failure(submission, course.assignments[submission.assignment],
                                                        error), {})
                        else:
                            pending.append(submission)
