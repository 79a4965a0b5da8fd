"""discover -> prepare -> sandbox/execute -> check -> store -> report, for a whole class.

`grade_submission` is one unit of work (it runs in a worker process, one sandbox
slot each); `grade_class` fans the work out, reuses unchanged results, and records
every result as soon as it arrives, so an interrupted run loses nothing it finished.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import shutil
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from grader import __version__
from grader.course import Assignment, Course
from grader.discover import is_missing
from grader.errors import SubmissionRejected
from grader.models import Fingerprint, Grade, Status, Submission
from grader.sandbox import Limits, Sandbox, claim_slot, die_with_parent, process_alive, remove_stale_cgroups
from grader.spare_kernel import SCRATCH_PREFIX, SpareKernel, SpareKernels, new_scratch

if TYPE_CHECKING:
    from grader.store import Gradebook

# What only a worker needs (torch, pytest, jupyter_client: seconds of imports) is imported
# where it is used, so a coordinator with nothing to grade starts and finishes in a blink.
# Workers fork from a forkserver that imported all of it once.
WORKER_PRELOAD = ["grader.execute", "grader.bridge", "grader.checks.runner", "grader.checks.from_scratch",
                  "grader.reference", "grader.prepare", "grader.checks.tensors", "torch", "numpy",
                  "grader.pipeline"]


@dataclass(frozen=True)
class GradingOptions:
    sandbox: bool = True
    limits: Limits = Limits()
    jobs: int = 1
    force: bool = False
    cluster: str | None = None  # a Dask scheduler address, or "local:N"; None: the local pool
    spare_kernels: bool | None = None  # start each worker's next kernel ahead; None: when CPUs are idle


STAGES = ("discover", "prepare", "execute", "checks", "score", "store", "report")


class Stopwatch:
    """Seconds spent per pipeline stage; one per submission in a worker, summed at the end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._current: str | None = None
        self._since = 0.0

    def enter(self, stage: str | None) -> None:
        """End the current stage (if any) and start `stage` (None: stop the clock)."""
        now = time.monotonic()
        if self._current is not None:
            self.seconds[self._current] = self.seconds.get(self._current, 0.0) + now - self._since
        self._current, self._since = stage, now

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        previous = self._current
        self.enter(name)
        try:
            yield
        finally:
            self.enter(previous)

    def add(self, seconds: dict[str, float]) -> None:
        for stage, value in seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + value


@dataclass(frozen=True)
class Graded:
    """What a worker hands back: the grade and where its time went."""

    grade: Grade
    stages: dict[str, float]


def fingerprint(submission: Submission, assignment: Assignment) -> Fingerprint:
    return Fingerprint(submission_hash=submission.content_hash, grader_version=__version__, **assignment.hashes)


def grade_submission(submission: Submission, assignment: Assignment, options: GradingOptions,
                     slot: int = 0, stopwatch: Stopwatch | None = None, spare: SpareKernel | None = None) -> Grade:
    """Grade one (student, assignment). Never raises for anything the student did.

    One kernel per submission: it runs the notebook once and then serves every check.
    `spare`: a kernel already started (see grader/spare_kernel.py) to use instead of
    starting one; it is closed here either way.
    """
    clock = stopwatch or Stopwatch()
    if assignment.rubric.kind == "model":
        from grader.homework.grade import grade_model  # torch/transformers only where a model is scored

        with clock.stage("score"):
            return grade_model(submission, assignment, options, slot)
    started = time.monotonic()
    rubric = assignment.rubric
    base = Grade(student=submission.student, assignment=submission.assignment, status=Status.GRADED,
                 score=0.0, max_score=rubric.max_score, message="",
                 fingerprint=fingerprint(submission, assignment))
    if is_missing(submission):
        return replace(base, status=Status.MISSING, tests=rubric.not_run("no submission"),
                       message=f"no {rubric.notebook} found in your submission")
    if submission.problem:
        return replace(base, status=Status.REJECTED, message=submission.problem,
                       tests=rubric.not_run("the submission was rejected"))
    from grader.bridge import student_namespace
    from grader.checks.from_scratch import rule_outcomes
    from grader.checks.runner import run_checks
    from grader.execute import KernelSession
    from grader.prepare import materialize
    from grader.reference import load_reference

    clock.enter("prepare")
    session = spare.session if spare is not None else None
    scratch, paths = (spare.scratch, spare.paths) if spare is not None else new_scratch()
    try:
        try:
            notebook = materialize(submission, rubric.notebook, paths.workdir, scratch)
        except SubmissionRejected as error:
            return replace(base, status=Status.REJECTED, message=str(error),
                           tests=rubric.not_run("the submission was rejected"),
                           duration_s=time.monotonic() - started)
        clock.enter("execute")  # kernel start, the notebook, and the kernel's shutdown
        if spare is not None:
            session = spare.adopt(options.limits)
        else:
            sandbox = Sandbox(slot, options.limits) if options.sandbox else None
            session = KernelSession(paths, options.limits, sandbox).__enter__()
        execution = session.run_notebook(notebook)
        clock.enter("checks")
        if execution.status is Status.GRADED:
            plugin = run_checks(assignment.test_files(), student=student_namespace(session.bridge),
                                reference=load_reference(assignment.reference_notebook),
                                rootdir=assignment.root)
            if plugin.collection_errors:
                raise RuntimeError(f"the tests of {assignment.name} could not be collected: "
                                   f"{plugin.collection_errors[0]}")
            rubric.check_covers(plugin.collected)
            tests = rubric.score({**plugin.outcomes, **rule_outcomes(rubric.rules, notebook)})
        else:
            tests = rubric.not_run(execution.message)
        score = round(sum(t.points for t in tests), 4)
        return replace(base, status=execution.status, score=score, tests=tests, execution=execution,
                       message=execution.message, duration_s=time.monotonic() - started)
    finally:
        if session is not None:
            clock.enter("execute")
            session.__exit__(None, None, None)  # kills the kernel and all it spawned
        shutil.rmtree(scratch, ignore_errors=True)
        clock.enter(None)


def needs_kernel(submission: Submission, assignment: Assignment) -> bool:
    return assignment.rubric.kind != "model" and not is_missing(submission) and not submission.problem


def grader_failure(submission: Submission, assignment: Assignment, error: BaseException) -> Grade:
    """A result for a submission whose grading crashed the grader's own worker."""
    return Grade(student=submission.student, assignment=submission.assignment, status=Status.ERROR,
                 score=0.0, max_score=assignment.rubric.max_score,
                 message=f"the grader failed on this submission ({type(error).__name__}: {error}); "
                         "tell your instructor",
                 fingerprint=fingerprint(submission, assignment),
                 tests=assignment.rubric.not_run("the grader failed"))


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


def grade_and_time(submission: Submission, assignment: Assignment, options: GradingOptions,
                   slot: int, spare: SpareKernel | None = None) -> Graded:
    """grade_submission with its stage timings; a crash of the grader itself becomes a result."""
    clock = Stopwatch()
    try:
        grade = grade_submission(submission, assignment, options, slot=slot, stopwatch=clock, spare=spare)
    except Exception as error:  # noqa: BLE001 - one submission's failure must not stop the class
        grade = grader_failure(submission, assignment, error)
    return Graded(grade, clock.seconds)


def _grade_in_worker(submission: Submission, assignment: Assignment, options: GradingOptions,
                     prefetch: bool) -> Graded:
    """One task of the pool. With `prefetch`, the next submission's kernel starts now, beside this one."""
    if _spares is None or not needs_kernel(submission, assignment):
        return grade_and_time(submission, assignment, options, _spares.free_slot() if _spares else _worker_slot)
    spare = _spares.take()
    slot = spare.slot if spare is not None else _spares.slots[0]
    if prefetch:
        _spares.start(slot, options.limits, options.sandbox)
    return grade_and_time(submission, assignment, options, slot, spare)


@dataclass(frozen=True)
class ClassResult:
    grades: list[Grade]
    run_id: int
    reused: int
    graded: int
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage, summed over workers


def grade_class(submissions: list[Submission], course: Course, store: Gradebook, options: GradingOptions,
                *, on_start: Callable[[int], None] = lambda total: None,
                on_grade: Callable[[Grade, bool], None] = lambda grade, reused: None) -> ClassResult:
    """Grade every submission, reusing stored results whose fingerprint is unchanged.

    Each result is stored the moment it arrives, so a run killed half-way keeps what it
    finished; the next run marks it interrupted, reuses those results, and grades the rest.
    """
    started = time.monotonic()
    clock = Stopwatch()
    remove_stale_cgroups()
    remove_stale_scratch()
    run_id = store.start_run({"jobs": options.jobs, "sandbox": options.sandbox, "force": options.force,
                              "timeout": options.limits.submission_timeout_s, "cluster": options.cluster,
                              "torch_threads": options.limits.torch_threads})
    grades: list[Grade] = []
    todo: list[Submission] = []
    reused = 0
    on_start(len(submissions))
    try:
        for submission in submissions:
            assignment = course.assignments[submission.assignment]
            with clock.stage("store"):
                found = None if options.force else store.find_reusable_result(
                    submission.student, submission.assignment, fingerprint(submission, assignment))
                if found is not None and _same_isolation(found[1], options):
                    result_id, grade = found
                    store.record(run_id, grade, reused_from=result_id)
                    grades.append(grade)
                    reused += 1
                else:
                    found = None
                    todo.append(submission)
            if found is not None:
                on_grade(grade, True)
        if options.cluster:
            from grader.cluster import run_on_cluster  # dask only when asked for

            results: Iterator[Graded] = run_on_cluster(todo, course, options)
        else:
            results = _run_pool(todo, course, options)
        for graded in results:
            clock.add(graded.stages)
            with clock.stage("store"):
                store.record(run_id, graded.grade)
            grades.append(graded.grade)
            on_grade(graded.grade, False)
    except BaseException:
        store.finish_run(run_id, "interrupted")
        raise
    store.finish_run(run_id, "finished")
    return ClassResult(grades=grades, run_id=run_id, reused=reused, graded=len(todo),
                       seconds=time.monotonic() - started, stages=clock.seconds)


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


def _run_pool(todo: list[Submission], course: Course, options: GradingOptions) -> Iterator[Graded]:
    """Yield results as they finish. When a worker process dies (the host's OOM killer, say),
    the submissions it took down with it are graded again in a fresh pool; one that breaks
    a pool twice gets a grader-failure result, so a run always ends."""
    if not todo:
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
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
                    except BrokenProcessPool as error:
                        key = (submission.student, submission.assignment)
                        breaks[key] = breaks.get(key, 0) + 1
                        if breaks[key] >= 2:
                            yield Graded(grader_failure(submission, course.assignments[submission.assignment],
                                                        error), {})
                        else:
                            pending.append(submission)
