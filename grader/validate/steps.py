"""`grade validate`: the course checked before students see it, one assignment at a time.

The steps, in order, for each assignment (every finding is kept, so one run lists them all):

1. the rubric against the tests (grader/validate/suite.py), then the kind's pre-flight: the
   reference against its own tests in the grader, or the model kind's settings and data;
2. the student edition built as `grade release` builds it, and what it must not hold
   (grader/validate/leaks.py);
3. mutants.yaml read, and the last `grade audit` against the rubric's minimum
   (grader/validate/strength.py); the mutants of each part's main function against the
   rubric's `min_part_loss` (grader/validate/weights.py);
4. for kinds that run a notebook: the reference, the released notebook, every mutant and
   every alternative graded as a class through the real pipeline and sandbox, and judged
   (grader/validate/grading.py).

No student is graded and no gradebook of the instructor's is touched: the grades go to a
temporary SQLite file, the release and the class to a temporary folder, all removed after.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader.course.assignments import Assignment, Course
from grader.course.config import COURSE_FILE, CourseDefaults
from grader.errors import GradeError
from grader.models import Grade
from grader.options import GradingOptions
from grader.sandbox import bwrap
from grader.sandbox.limits import MiB, Limits
from grader.store.gradebook import Gradebook
from grader.validate.findings import AssignmentResult, Finding, Severity, ValidationReport
from grader.validate.grading import Listener, grading_findings
from grader.validate.leaks import release_findings
from grader.validate.strength import Mutants, audit_findings, load_spec
from grader.validate.suite import preflight_findings, rubric_findings
from grader.validate.weights import part_loss_findings


@dataclass(frozen=True)
class ValidateOptions:
    names: tuple[str, ...] = ()  # the assignments to check; () : every one, in the course's order
    jobs: int = 1  # sandboxes side by side while a class is graded
    sandbox: bool = True  # False: the reference and its mutants run unisolated (they are the instructor's code)
    grade: bool = True  # False: the quick checks only (rubric, pre-flight, release, mutants.yaml, audit), no class graded


class ValidateProgress:
    """What a progress display is told: each assignment's steps, then its class as it is graded."""

    def phase(self, assignment: str, description: str) -> None: ...

    def start(self, assignment: str, total: int) -> None: ...

    def advance(self, assignment: str, grade: Grade) -> None: ...


def validate_course(course: Course, options: ValidateOptions,
                    progress: ValidateProgress | None = None) -> ValidationReport:
    started = time.monotonic()
    progress = progress or ValidateProgress()
    unknown = [name for name in options.names if name not in course.assignments]
    if unknown:
        raise GradeError(f"unknown assignment(s) {', '.join(unknown)}; known: {', '.join(course.assignments)}")
    chosen = [course.assignments[name] for name in (options.names or tuple(course.assignments))]
    course_findings = []
    if course.config is None or course.config.path is None:
        course_findings.append(Finding("course", Severity.WARNING, "no course.yaml: the course is titled by its "
                                       "folder and grades every rubric in file order; `grade new` writes one",
                                       course.root / COURSE_FILE))
    grading = _grading_options(course, options)
    if options.grade and options.sandbox and any(a.kind.needs_kernel for a in chosen):
        bwrap.probe(grading.limits)
    results = []
    with tempfile.TemporaryDirectory(prefix="grade-validate-") as scratch, \
            Gradebook(str(Path(scratch) / "validate.db")) as store:
        for assignment in chosen:
            results.append(_validate_assignment(course, assignment, store, grading, Path(scratch) / assignment.name,
                                                progress, grade=options.grade))
    return ValidationReport(course=tuple(course_findings), assignments=tuple(results),
                            seconds=time.monotonic() - started)


def _validate_assignment(course: Course, assignment: Assignment, store: Gradebook, options: GradingOptions,
                         scratch: Path, progress: ValidateProgress, *, grade: bool) -> AssignmentResult:
    name = assignment.name
    runs_notebook = assignment.kind.needs_kernel  # graded by running its notebook: tests, release, mutants
    progress.phase(name, "checking the rubric and the tests")
    found = rubric_findings(assignment) if runs_notebook else []
    if not found:
        found += preflight_findings(course, assignment)
    sound = not found  # the pre-flight passed: a class of it can be graded
    progress.phase(name, "building the release")
    release = release_findings(course, assignment, scratch / "release")
    found += release.findings
    mutants = Mutants(None, (), ())
    if runs_notebook:
        mutants = load_spec(assignment)
        found += mutants.findings
        found += part_loss_findings(assignment, mutants)
    audit, audit_summary = audit_findings(assignment)
    found += audit
    summary = "rubric, settings and release checked"
    if runs_notebook and not grade:
        summary = "rubric, pre-flight and release checked; not graded (--quick)"
    elif runs_notebook and sound:
        progress.phase(name, "grading")
        listener = Listener(start=lambda total: progress.start(name, total),
                            advance=lambda result: progress.advance(name, result),
                            phase=lambda description: progress.phase(name, description))
        (scratch / "class").mkdir(parents=True)
        graded = grading_findings(course, assignment, release.notebook, mutants, store, options, scratch / "class",
                                  listener)
        found += graded.findings
        summary = graded.summary
    elif runs_notebook:
        summary = "not graded: the pre-flight failed"
    if audit_summary:
        summary += f", {audit_summary}"
    return AssignmentResult(name=name, findings=tuple(found), summary=summary)


def _grading_options(course: Course, options: ValidateOptions) -> GradingOptions:
    from grader.course.environment import kernel_interpreter
    from grader.pipeline.pool import cpu_count

    defaults = course.config.defaults if course.config else CourseDefaults()
    jobs = max(1, options.jobs)
    limits = Limits(submission_timeout_s=defaults.timeout_s,
                    cell_timeout_s=min(defaults.cell_timeout_s, defaults.timeout_s),
                    memory_bytes=defaults.memory_mb * MiB, torch_threads=max(1, cpu_count() // jobs))
    # Sandboxed, the class runs in the students' environment, as `grade PATH` runs it.
    kernel = kernel_interpreter(course.config) if options.sandbox else None
    return GradingOptions(sandbox=options.sandbox, limits=limits, jobs=jobs, kernel=kernel)
