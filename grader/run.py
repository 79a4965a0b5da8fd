"""`grade PATH`: the instructor's job, from a folder of submissions to stored grades and reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.progress import Progress

from grader import sandbox
from grader.course import load_course
from grader.discover import discover
from grader.errors import GradeError
from grader.models import Grade
from grader.pipeline import ClassResult, GradingOptions, grade_class
from grader.report import write_reports
from grader.sandbox import Limits
from grader.store import Gradebook


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
    course_dir: Path = Path(".")


@dataclass(frozen=True)
class RunOutcome:
    result: ClassResult
    db: str
    index: Path


def grade_folder(request: RunRequest, progress: Progress | None = None) -> RunOutcome:
    course = load_course(request.course_dir)
    unknown = request.only - set(course.assignments)
    if unknown:
        raise GradeError(f"unknown assignment(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(course.assignments))}")
    limits = Limits(submission_timeout_s=request.timeout_s,
                    cell_timeout_s=min(request.cell_timeout_s, request.timeout_s))
    if request.sandbox:
        sandbox.probe(limits)
    submissions = discover(request.path, course, only=set(request.only) or None)
    if not submissions:
        raise GradeError(f"no submissions found in {request.path}: expected <student>/ folders or <student>.zip files")
    options = GradingOptions(sandbox=request.sandbox, limits=limits, jobs=max(1, request.jobs), force=request.force)
    with Gradebook(request.db) as store:
        if progress is None:
            result = grade_class(submissions, course, store, options)
        else:
            with progress:
                task = progress.add_task("grading", total=len(submissions), rate="")

                def advance(grade: Grade, reused: bool) -> None:
                    done = progress.tasks[0].completed + 1
                    elapsed = progress.tasks[0].elapsed or 1e-9
                    progress.update(task, advance=1, rate=f"{done / elapsed:.2f}/s")

                result = grade_class(submissions, course, store, options, on_grade=advance)
        grades = store.latest_grades()
    index = write_reports([g for g in grades if g.assignment in course.assignments], request.reports_dir,
                          title="Deep Learning & NLP Foundations")
    return RunOutcome(result=result, db=request.db, index=index)
