"""pipeline/submission.py: a crash of the grader is that submission's result; a mistake in the
course (InstructorError) is nobody's result and propagates to stop the run.

`Scripted` is a real assignment kind whose grading does what the submitted file says; the pool
and Dask tests (tests/integration/test_instructor_errors.py) send it to worker processes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import pytest

from grader.course.assignments import Assignment, AssignmentKind, Course, EnterStage
from grader.course.rubric import load_rubric
from grader.errors import InstructorError
from grader.kernel.spare import SpareKernel
from grader.models import Grade, Status, StudentFolder, Submission, SubmissionKind
from grader.options import GradingOptions
from grader.pipeline.submission import grade_and_time

RUBRIC = "assignment: {name}\nnotebook: {name}.ipynb\nkind: scripted\nsettings: {{broken: {broken}}}\n" \
         "parts:\n  - name: All\n    tests: {{test_one: 1}}\n"


class Scripted(AssignmentKind):
    """Grading does what the submission's text says: `ok`, `course` (the course is found wrong
    while grading), `crash` (a bug of the grader's). Its course check fails when the rubric's
    settings say `broken: true`, and records what it checked."""

    name: ClassVar[str] = "scripted"
    needs_kernel: ClassVar[bool] = False

    def __init__(self) -> None:
        self.checked: list[str] = []

    def find(self, folder: StudentFolder, assignment: Assignment, course: Course) -> Submission:
        raise NotImplementedError("the tests build their submissions")

    def grade(self, submission: Submission, assignment: Assignment, options: GradingOptions, *, slot: int,
              enter_stage: EnterStage, spare: SpareKernel | None) -> Grade:
        what = submission.source.read_text().strip()
        if what == "course":
            raise InstructorError(f"{assignment.rubric_path}: test_one compares with a reference that is wrong")
        if what == "crash":
            raise RuntimeError("a bug in the grader")
        return Grade(student=submission.student, assignment=submission.assignment, status=Status.GRADED, score=1.0,
                     max_score=1.0, message="", fingerprint=assignment.fingerprint(submission),
                     tests=assignment.rubric.score({"test_one": ("passed", "", 0.0)}))

    def check_course(self, assignment: Assignment) -> None:
        self.checked.append(assignment.name)
        if assignment.rubric.settings.get("broken"):
            raise InstructorError(f"{assignment.rubric_path}: broken on purpose")


def scripted_course(root: Path, *names: str, broken: tuple[str, ...] = (), kind: Scripted | None = None) -> Course:
    kind = kind or Scripted()
    assignments = {}
    (root / "rubrics").mkdir(parents=True, exist_ok=True)
    for name in names:
        folder = root / "reference" / name
        (folder / "tests").mkdir(parents=True)
        (folder / f"{name}.ipynb").write_text("{}")
        rubric_path = root / "rubrics" / f"{name}.yaml"
        rubric_path.write_text(RUBRIC.format(name=name, broken=str(name in broken).lower()))
        assignments[name] = Assignment(name, folder, rubric_path, load_rubric(rubric_path), kind)
    return Course(root=root, assignments=assignments)


def submission(root: Path, student: str, assignment: str, what: str) -> Submission:
    path = root / "subs" / student / f"{assignment}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(what)
    digest = hashlib.sha256(f"{student}:{assignment}:{what}".encode()).hexdigest()
    return Submission(student, assignment, SubmissionKind.NOTEBOOK, path, digest)


def test_a_crash_of_the_grader_is_that_submissions_result(tmp_path: Path) -> None:
    course = scripted_course(tmp_path, "a1")
    graded = grade_and_time(submission(tmp_path, "ann", "a1", "crash"), course.assignments["a1"],
                            GradingOptions(sandbox=False), slot=0)
    assert graded.grade.status is Status.ERROR
    assert "the grader failed on this submission (RuntimeError: a bug in the grader)" in graded.grade.message


def test_a_mistake_in_the_course_is_nobodys_result_and_propagates(tmp_path: Path) -> None:
    course = scripted_course(tmp_path, "a1")
    with pytest.raises(InstructorError, match="a1.yaml: test_one compares with a reference that is wrong"):
        grade_and_time(submission(tmp_path, "ann", "a1", "course"), course.assignments["a1"],
                       GradingOptions(sandbox=False), slot=0)
