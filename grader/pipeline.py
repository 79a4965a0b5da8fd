"""discover -> prepare -> sandbox/execute -> check -> store -> report, for a whole class.

`grade_submission` is one unit of work (it runs in a worker process, one sandbox
slot each); `grade_class` fans the work out, reuses unchanged results, and records
every result as soon as it arrives, so an interrupted run loses nothing it finished.
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from grader import __version__
from grader.bridge import student_namespace
from grader.checks.from_scratch import rule_outcomes
from grader.checks.runner import run_checks
from grader.course import Assignment, Course
from grader.discover import is_missing
from grader.errors import SubmissionRejected
from grader.execute import KernelSession
from grader.models import Fingerprint, Grade, Status, Submission
from grader.prepare import materialize
from grader.reference import load_reference
from grader.sandbox import Limits, Sandbox, SandboxPaths
from grader.store import Gradebook


@dataclass(frozen=True)
class GradingOptions:
    sandbox: bool = True
    limits: Limits = Limits()
    jobs: int = 1
    force: bool = False


def fingerprint(submission: Submission, assignment: Assignment) -> Fingerprint:
    return Fingerprint(submission_hash=submission.content_hash, grader_version=__version__, **assignment.hashes)


def grade_submission(submission: Submission, assignment: Assignment, options: GradingOptions,
                     slot: int = 0) -> Grade:
    """Grade one (student, assignment). Never raises for anything the student did."""
    if assignment.rubric.kind == "model":
        from grader.homework.grade import grade_model  # torch/transformers only where a model is scored

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
    scratch = Path(tempfile.mkdtemp(prefix="grade-"))
    try:
        paths = SandboxPaths(workdir=scratch / "work", runtime=scratch / "run")
        paths.workdir.mkdir()
        paths.runtime.mkdir()
        try:
            notebook = materialize(submission, rubric.notebook, paths.workdir, scratch)
        except SubmissionRejected as error:
            return replace(base, status=Status.REJECTED, message=str(error),
                           tests=rubric.not_run("the submission was rejected"),
                           duration_s=time.monotonic() - started)
        sandbox = Sandbox(slot, options.limits) if options.sandbox else None
        with KernelSession(paths, options.limits, sandbox) as session:
            execution = session.run_notebook(notebook)
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
        shutil.rmtree(scratch, ignore_errors=True)


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


def _init_worker(slots: "multiprocessing.Queue[int]") -> None:
    global _worker_slot
    _worker_slot = slots.get()


def _grade_in_worker(submission: Submission, assignment: Assignment, options: GradingOptions) -> Grade:
    try:
        return grade_submission(submission, assignment, options, slot=_worker_slot)
    except Exception as error:  # noqa: BLE001 - one submission's failure must not stop the class
        return grader_failure(submission, assignment, error)


@dataclass(frozen=True)
class ClassResult:
    grades: list[Grade]
    run_id: int
    reused: int
    graded: int
    seconds: float


def grade_class(submissions: list[Submission], course: Course, store: Gradebook, options: GradingOptions,
                *, on_start: Callable[[int], None] = lambda total: None,
                on_grade: Callable[[Grade, bool], None] = lambda grade, reused: None) -> ClassResult:
    """Grade every submission, reusing stored results whose fingerprint is unchanged."""
    started = time.monotonic()
    run_id = store.start_run({"jobs": options.jobs, "sandbox": options.sandbox, "force": options.force,
                              "timeout": options.limits.submission_timeout_s})
    grades: list[Grade] = []
    todo: list[Submission] = []
    reused = 0
    on_start(len(submissions))
    try:
        for submission in submissions:
            assignment = course.assignments[submission.assignment]
            found = None if options.force else store.find_reusable_result(
                submission.student, submission.assignment, fingerprint(submission, assignment))
            if found is not None and _same_isolation(found[1], options):
                result_id, grade = found
                store.record(run_id, grade, reused_from=result_id)
                grades.append(grade)
                reused += 1
                on_grade(grade, True)
            else:
                todo.append(submission)
        for grade in _run_pool(todo, course, options):
            store.record(run_id, grade)
            grades.append(grade)
            on_grade(grade, False)
    except BaseException:
        store.finish_run(run_id, "interrupted")
        raise
    store.finish_run(run_id, "finished")
    return ClassResult(grades=grades, run_id=run_id, reused=reused, graded=len(todo),
                       seconds=time.monotonic() - started)


def _same_isolation(grade: Grade, options: GradingOptions) -> bool:
    """A result from an unsandboxed run is not reused by a sandboxed one."""
    return grade.execution is None or grade.execution.sandboxed or not options.sandbox


def _run_pool(todo: list[Submission], course: Course, options: GradingOptions):  # type: ignore[no-untyped-def]
    """Yield grades as they finish. When a worker process dies (the host's OOM killer, say),
    the submissions it took down with it are graded again in a fresh pool; one that breaks
    a pool twice gets a grader-failure result, so a run always ends."""
    if not todo:
        return
    context = multiprocessing.get_context("forkserver")
    pending = list(todo)
    breaks: dict[tuple[str, str], int] = {}
    while pending:
        slots = context.Queue()
        jobs = max(1, min(options.jobs, len(pending)))
        for slot in range(jobs):
            slots.put(slot)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                                 initargs=(slots,)) as pool:
            futures: dict[Future[Grade], Submission] = {
                pool.submit(_grade_in_worker, s, course.assignments[s.assignment], options): s for s in pending
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
                            yield grader_failure(submission, course.assignments[submission.assignment], error)
                        else:
                            pending.append(submission)
