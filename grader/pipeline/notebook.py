"""The notebook kind: run the student's notebook (or package) in a sandboxed kernel, then the
hidden tests in the trusted process through the bridge, then the from-scratch rules.

One kernel per submission: it runs the notebook once and then serves every check.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from typing import ClassVar

from grader.course.assignments import Assignment, AssignmentKind, Course, EnterStage
from grader.discover import find_notebook
from grader.errors import SubmissionRejected
from grader.kernel.spare import SpareKernel, new_scratch
from grader.models import Grade, Status, StudentFolder, Submission
from grader.options import GradingOptions
from grader.sandbox.bwrap import Sandbox
from grader.written_answers import notebook_answers


class NotebookKind(AssignmentKind):
    """A notebook (or package of modules) checked by hidden pytest suites against the reference."""

    name: ClassVar[str] = "notebook"
    check_remembered: ClassVar[bool] = True  # 05's check: 4.4 CPU-s (torch, the reference, pytest)

    def find(self, folder: StudentFolder, assignment: Assignment, course: Course) -> Submission:
        return find_notebook(folder, assignment, course)

    def grade(self, submission: Submission, assignment: Assignment, options: GradingOptions, *, slot: int,
              enter_stage: EnterStage, spare: SpareKernel | None) -> Grade:
        return grade_notebook(submission, assignment, options, slot=slot, enter_stage=enter_stage, spare=spare)

    def check_course(self, assignment: Assignment) -> None:
        from grader.checks.suites import check_suites  # pytest and torch: only when there is work

        check_suites(assignment)


def grade_notebook(submission: Submission, assignment: Assignment, options: GradingOptions, *, slot: int,
                   enter_stage: EnterStage, spare: SpareKernel | None) -> Grade:
    """Grade one notebook submission. Never raises for anything the student did.

    `spare`: a kernel already started (see grader/kernel/spare.py) to use instead of
    starting one; it is closed here either way.
    """
    started = time.monotonic()
    rubric = assignment.rubric
    base = assignment.blank_grade(submission)
    from grader.checks.from_scratch import rule_outcomes
    from grader.checks.runner import raise_for_collection, raise_for_self_checks, run_checks
    from grader.course.reference import load_reference
    from grader.kernel.bridge import student_namespace
    from grader.kernel.execute import KernelSession
    from grader.prepare import materialize

    enter_stage("prepare")
    session = spare.session if spare is not None else None
    scratch, paths = (spare.scratch, spare.paths) if spare is not None else new_scratch()
    try:
        try:
            notebook = materialize(submission, rubric.notebook, paths.workdir, scratch)
        except SubmissionRejected as error:
            return replace(base, status=Status.REJECTED, message=str(error),
                           tests=rubric.not_run("the submission was rejected"),
                           duration_s=time.monotonic() - started)
        # Read before anything runs, from the parsed JSON in this process: the answers as handed in.
        base = replace(base, manual=notebook_answers(notebook, rubric.manual_parts))
        enter_stage("execute")  # kernel start, the notebook, and the kernel's shutdown
        if spare is not None:
            session = spare.adopt(options.limits)
        else:
            sandbox = Sandbox(slot, options.limits, options.kernel) if options.sandbox else None
            session = KernelSession(paths, options.limits, sandbox, warm=options.warm_kernels,
                                    template_imports=options.kernel_imports).__enter__()
        execution = session.run_notebook(notebook)
        enter_stage("checks")
        if execution.status is Status.GRADED:
            plugin = run_checks(assignment.test_files(), student=student_namespace(session.bridge),
                                reference=load_reference(assignment.reference_notebook),
                                rootdir=assignment.root)
            # The course's own mistakes raise InstructorError: they stop the run, never a student's result.
            raise_for_collection(plugin, assignment.root)
            raise_for_self_checks(plugin, assignment.root, grading=f"{submission.student}'s {submission.assignment}")
            rubric.check_covers(plugin.collected, rubric_path=assignment.rubric_path, tests_dir=assignment.tests_root)
            tests = rubric.score({**plugin.outcomes, **rule_outcomes(rubric.rules, notebook)}, plugin.signals,
                                 plugin.student_messages)
        else:
            tests = rubric.not_run(execution.message)
        score = round(sum(t.points for t in tests), 4)
        return replace(base, status=execution.status, score=score, tests=tests, execution=execution,
                       message=execution.message, duration_s=time.monotonic() - started)
    finally:
        if session is not None:
            enter_stage("execute")
            session.__exit__(None, None, None)  # kills the kernel and all it spawned
        shutil.rmtree(scratch, ignore_errors=True)
        enter_stage(None)
