"""One unit of work: grade one (student, assignment), whatever its kind, and time its stages.

It runs in a worker process (one sandbox slot each) of the local pool
(grader/pipeline/pool.py) or on a Dask worker (grader/pipeline/cluster.py), and in
`grade check` on a student's machine. The assignment's kind does the grading.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from grader.course.assignments import Assignment
from grader.discover import is_missing
from grader.errors import InstructorError
from grader.kernel.spare import SpareKernel
from grader.models import Grade, Status, Submission
from grader.options import GradingOptions
from grader.pipeline.stopwatch import Stopwatch


@dataclass(frozen=True)
class Graded:
    """What a worker hands back: the grade and where its time went."""

    grade: Grade
    stages: dict[str, float]


def grade_submission(submission: Submission, assignment: Assignment, options: GradingOptions,
                     slot: int = 0, stopwatch: Stopwatch | None = None, spare: SpareKernel | None = None) -> Grade:
    """Grade one (student, assignment). Never raises for anything the student did."""
    unopened = unopened_grade(submission, assignment)
    if unopened is not None:
        return unopened
    return assignment.kind.grade(submission, assignment, options, slot=slot, enter_stage=(stopwatch or Stopwatch()).enter,
                                 spare=spare)


def unopened_grade(submission: Submission, assignment: Assignment) -> Grade | None:
    """The result of a submission discovery already settled, whatever its kind: nothing handed
    in (missing) or refused before anything ran (rejected); None when there is work to grade."""
    base = assignment.blank_grade(submission)
    if is_missing(submission):
        return replace(base, status=Status.MISSING, tests=assignment.rubric.not_run("no submission"),
                       message=assignment.kind.missing_message(assignment))
    if submission.problem:
        return replace(base, status=Status.REJECTED, message=submission.problem,
                       tests=assignment.rubric.not_run("the submission was rejected"))
    return None


def needs_kernel(submission: Submission, assignment: Assignment) -> bool:
    return assignment.kind.needs_kernel and not is_missing(submission) and not submission.problem


def grader_failure(submission: Submission, assignment: Assignment, error: BaseException) -> Grade:
    """A result for a submission whose grading crashed the grader's own worker (never for an
    InstructorError: a mistake in the course stops the run instead)."""
    return replace(assignment.blank_grade(submission), status=Status.ERROR,
                   message=f"the grader failed on this submission ({type(error).__name__}: {error}); "
                           "tell your instructor",
                   tests=assignment.rubric.not_run("the grader failed"))


def grade_and_time(submission: Submission, assignment: Assignment, options: GradingOptions,
                   slot: int, spare: SpareKernel | None = None) -> Graded:
    """grade_submission with its stage timings; a crash of the grader itself becomes a result.

    An InstructorError (the course is wrong: a rubric, a test file, the reference) is not this
    student's result: it propagates, and the pool or cluster stops the run."""
    clock = Stopwatch()
    try:
        grade = grade_submission(submission, assignment, options, slot=slot, stopwatch=clock, spare=spare)
    except InstructorError:
        raise
    except Exception as error:  # noqa: BLE001 - one submission's failure must not stop the class
        grade = grader_failure(submission, assignment, error)
    return Graded(grade, clock.seconds)
