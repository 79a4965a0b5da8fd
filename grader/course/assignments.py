"""The course's assignments: each one's reference, tests, rubric, and its kind.

An assignment's *kind* (a notebook run against hidden tests, a saved model scored on a
held-out set, ...) is an object, not a flag: it says how a submission of that kind is
found, graded, fingerprinted and released, and whether it wants a GPU. The kinds
themselves live beside the code they drive (grader/pipeline/notebook.py,
grader/homework/kind.py); grader/kinds.py is the one registry that maps a
rubric's `kind:` to them and loads the course. Nothing else tests a kind's name.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

from grader import __version__
from grader.course.config import CourseConfig
from grader.course.rubric import Rubric
from grader.models import Fingerprint, Grade, Status, StudentFolder, Submission

if TYPE_CHECKING:
    from grader.kernel.spare import SpareKernel
    from grader.options import GradingOptions


EnterStage = Callable[[str | None], None]  # a pipeline Stopwatch's `enter`: time from now on goes to this stage


class AssignmentKind(ABC):
    """What kind of work an assignment asks for, and everything that depends on it."""

    name: ClassVar[str]  # the rubric's `kind:`
    wants_gpu: ClassVar[bool] = False  # on a cluster with GPU workers, grade it there
    needs_kernel: ClassVar[bool] = True  # grading starts a sandboxed Jupyter kernel (spare kernels help)
    runs_scorer: ClassVar[bool] = False  # grading runs a sandboxed scorer (GradingOptions.warm_scorers)
    has_public_tests: ClassVar[bool] = True  # `grade check` runs students' work against public tests
    no_public_tests: ClassVar[str] = "this assignment has no public tests"  # what `grade check` says instead
    # A passed check_course is stamped on disk and skipped by `grade run` while nothing it reads changes
    # (grader/pipeline/course_stamps.py): for a check that costs seconds, and reads only the assignment's
    # files, grade's code and the installed packages.
    check_remembered: ClassVar[bool] = False

    @abstractmethod
    def find(self, folder: StudentFolder, assignment: Assignment, course: Course) -> Submission:
        """This assignment's submission in a student's folder or zip (checked safe by discovery)."""

    @abstractmethod
    def grade(self, submission: Submission, assignment: Assignment, options: GradingOptions, *, slot: int,
              enter_stage: EnterStage, spare: SpareKernel | None) -> Grade:
        """Grade one submission; never raises for anything the student did.

        `enter_stage(name)` marks where the time goes from here on (None: stop the clock).
        """

    def check_course(self, assignment: Assignment) -> None:
        """Raise InstructorError when the assignment's own files (rubric, tests, reference,
        settings) are wrong. Runs in the trusted process before a class is graded, so an
        instructor's mistake stops the run instead of becoming every student's result."""

    def missing_message(self, assignment: Assignment) -> str:
        """What a student who handed in nothing for this assignment reads."""
        return f"no {assignment.notebook} found in your submission"

    def tests_fingerprint(self, assignment: Assignment, tests_hash: str) -> str:
        """The hash of what the hidden tests are: by default the test files themselves."""
        return tests_hash

    def release_data(self, assignment: Assignment, out: Path) -> tuple[str, ...]:
        """Data files the student edition ships for this assignment (paths relative to `out`)."""
        return ()


@dataclass(frozen=True)
class Assignment:
    """One assignment of the course; everything here is trusted and never enters a sandbox."""

    name: str
    root: Path  # reference/<name>/
    rubric_path: Path
    rubric: Rubric
    kind: AssignmentKind
    course_dir: Path | None = None  # the course root; None only for an assignment built outside a course

    @property
    def notebook(self) -> str:
        return self.rubric.notebook

    @property
    def reference_notebook(self) -> Path:
        return self.root / self.rubric.notebook

    @property
    def tests_root(self) -> Path:
        """The folder holding every test file of the assignment (named in instructors' messages)."""
        return self.root / "tests"

    @property
    def public_tests(self) -> Path:
        return self.root / "tests" / "public"

    @property
    def hidden_tests(self) -> Path:
        return self.root / "tests" / "hidden"

    @property
    def course_root(self) -> Path:
        """The course root (course.yaml, rubrics/, reference/): data paths in settings are relative to it."""
        return self.course_dir if self.course_dir is not None else self.root.parent.parent

    def test_files(self) -> list[Path]:
        return sorted(self.public_tests.glob("test_*.py")) + sorted(self.hidden_tests.glob("test_*.py"))

    @cached_property
    def hashes(self) -> dict[str, str]:
        """Content hashes of what a grade depends on, besides the submission itself."""
        tests = sorted(p for p in (self.root / "tests").rglob("*.py"))
        return {
            "tests_hash": self.kind.tests_fingerprint(self, hash_files(tests, base=self.root)),
            "reference_hash": hash_files([self.reference_notebook], base=self.root),
            "rubric_hash": hash_files([self.rubric_path], base=self.rubric_path.parent),
        }

    def blank_grade(self, submission: Submission) -> Grade:
        """A graded result with no points yet, against this assignment's fingerprint: each stage fills it in."""
        return Grade(student=submission.student, assignment=submission.assignment, status=Status.GRADED,
                     score=0.0, max_score=self.rubric.max_score, message="", fingerprint=self.fingerprint(submission))

    def fingerprint(self, submission: Submission) -> Fingerprint:
        """What a grade of `submission` is computed against, so it can be explained and reused."""
        return Fingerprint(submission_hash=submission.content_hash, grader_version=__version__, **self.hashes)


@dataclass(frozen=True)
class Course:
    root: Path
    assignments: dict[str, Assignment]  # in the course's order (course.yaml), else by rubric file name
    config: CourseConfig | None = None

    @property
    def title(self) -> str:
        return self.config.title if self.config else self.root.name

    def by_notebook(self) -> dict[str, Assignment]:
        return {a.notebook: a for a in self.assignments.values()}


def hash_files(paths: list[Path], *, base: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(base)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
