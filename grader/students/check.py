"""`grade check`: the public tests on a student's own notebooks, through the instructor's pipeline.

The same `grade_submission` that grades a class runs here, on an assignment reduced to
what students have (PublicAssignment: the public tests and their points, no reference, no
hidden tests), so a student's verdicts and messages are the instructor's, word for word.

The course is found from the working folder upwards: a released student repo (with
`.grade/release.json`) or the course repo itself (rubrics/ and reference/). In a release
the public tests are checked against their pinned SHA-256 first: CI passes the pin from the
workflow (`--tests-sha256`) and refuses edited tests; locally a mismatch is a warning.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml

from grader.course.assignments import Assignment, hash_files
from grader.kinds import KINDS, load_course
from grader.discover import notebook_assignment
from grader.errors import GradeError, SandboxUnavailable
from grader.models import Grade, Outcome, Status, Submission, SubmissionKind
from grader.students.release import (FILES, MANIFEST, POINTS, notebook_code_sha256, public_test_files,
                                  public_test_names, public_tests_sha256)
from grader.course.rubric import Rubric, RubricPart
from grader.sandbox.bwrap import Limits

SandboxMode = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class PublicAssignment(Assignment):
    """An assignment as students have it: public tests with their points, nothing else."""

    tests_dir: Path = field(kw_only=True)  # after Assignment's defaulted course_dir

    @property
    def public_tests(self) -> Path:
        return self.tests_dir

    @property
    def hidden_tests(self) -> Path:
        return self.tests_dir / "__students_have_no_hidden_tests__"

    @property
    def tests_root(self) -> Path:
        return self.tests_dir

    @property
    def reference_notebook(self) -> Path:
        return FILES / "no_reference.ipynb"  # public tests never use `reference` (checked at release)

    def test_files(self) -> list[Path]:
        return sorted(self.tests_dir.glob("test_*.py"))

    @cached_property
    def hashes(self) -> dict[str, str]:
        return {"tests_hash": hash_files(self.test_files(), base=self.tests_dir), "reference_hash": "",
                "rubric_hash": hash_files([self.rubric_path], base=self.rubric_path.parent)}

    @cached_property
    def names_under_test(self) -> dict[str, set[str]]:
        """test name -> the `student.<name>`s it calls: where a failure points in the notebook."""
        return public_test_names(self.test_files())


@dataclass(frozen=True)
class PublicCourse:
    root: Path  # where the student's notebooks are
    released: bool  # a student repo (True) or the course repo (False)
    assignments: dict[str, PublicAssignment]
    skipped: dict[str, str]  # assignment -> why `grade check` has nothing to run for it
    tests_sha256: str  # of the public tests that run (releases only)
    manifest: dict = field(default_factory=dict)

    def by_notebook(self) -> dict[str, str]:
        names = {a.notebook: a.name for a in self.assignments.values()}
        names.update({entry["notebook"]: name for name, entry in self._released().items() if name in self.skipped})
        return names

    def _released(self) -> dict[str, dict]:
        return {a["name"]: a for a in self.manifest.get("assignments", [])}


def find_course(start: Path, *, tests_from: Path | None = None, tests_sha256: str = "") -> PublicCourse:
    """The released repo or course repo holding `start`; with tests_from, the public tests
    and points come from that release checkout instead of the student's copy."""
    start = start.resolve()
    for folder in [start, *start.parents]:
        if (folder / MANIFEST).is_file():
            return _release_course(folder, (tests_from or folder).resolve(), tests_sha256)
        if (folder / "rubrics").is_dir() and (folder / "reference").is_dir():
            if tests_from is not None:
                return _release_course(folder, tests_from.resolve(), tests_sha256)
            return _course_repo(folder)
    raise GradeError(f"no course found in {start} or above: run `grade check` inside your course repository "
                     f"(the folder with {MANIFEST}) or the instructor's course repository")


def _release_course(root: Path, tests_root: Path, expected: str) -> PublicCourse:
    manifest_path = tests_root / MANIFEST
    if not manifest_path.is_file():
        raise GradeError(f"{tests_root} is not a grade release (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text())
    actual = public_tests_sha256(tests_root)
    if expected and actual != expected:
        raise GradeError(
            f"the public tests in {tests_root / 'tests'} (with points.yaml) are not the released ones: sha256 "
            f"{actual[:12]}..., pinned {expected[:12]}...; restore tests/ and points.yaml from the release "
            "(editing them cannot change your grade: your instructor runs their own copy)")
    points = yaml.safe_load((tests_root / POINTS).read_text()) or {}
    assignments, skipped = {}, {}
    for entry in manifest["assignments"]:
        name = entry["name"]
        kind = KINDS.get(entry["kind"])
        if kind is None or not kind.has_public_tests or not entry["tests"]:
            skipped[name] = kind.no_public_tests if kind is not None else "this assignment has no public tests"
            continue
        parts = tuple(RubricPart(name=p["name"], tests=tuple((t, float(v)) for t, v in p.get("public_tests", {}).items()))
                      for p in points[name]["parts"])
        rubric = Rubric(assignment=name, title=entry["title"], notebook=entry["notebook"], parts=parts)
        tests_dir = tests_root / entry["tests"]
        assignments[name] = PublicAssignment(name, tests_dir, tests_root / POINTS, rubric, kind, tests_dir=tests_dir)
    return PublicCourse(root=root, released=True, assignments=assignments, skipped=skipped, tests_sha256=actual,
                        manifest=manifest)


def _course_repo(root: Path) -> PublicCourse:
    course = load_course(root)
    assignments, skipped = {}, {}
    for name, assignment in course.assignments.items():
        public = set(public_test_names(public_test_files(assignment)))
        if not assignment.kind.has_public_tests or not public:
            skipped[name] = assignment.kind.no_public_tests
            continue
        assignments[name] = PublicAssignment(name, assignment.public_tests, assignment.rubric_path,
                                             public_rubric(assignment.rubric, public), assignment.kind,
                                             assignment.course_dir, tests_dir=assignment.public_tests)
    return PublicCourse(root=root, released=False, assignments=assignments, skipped=skipped, tests_sha256="")


def public_rubric(rubric: Rubric, public: set[str]) -> Rubric:
    """The rubric reduced to its public tests (no hidden tests, no from-scratch rules)."""
    parts = []
    for part in rubric.parts:
        reduced = replace(part, tests=tuple((t, p) for t, p in part.tests if t in public))
        if hasattr(reduced, "rules"):
            reduced = replace(reduced, rules=())
        parts.append(reduced)
    return replace(rubric, parts=tuple(parts))


@dataclass(frozen=True)
class Target:
    path: Path
    assignment: str


def targets(course: PublicCourse, notebooks: list[Path]) -> tuple[list[Target], list[str]]:
    """Which notebooks to check, and notes about the ones left out. With no notebooks named:
    every notebook of the course that exists and (in a release) differs from the released one."""
    notes: list[str] = []
    if notebooks:
        chosen = []
        for path in notebooks:
            if not path.is_file():
                raise GradeError(f"{path} does not exist")
            name = course.by_notebook().get(path.name) or notebook_assignment(path)
            if name in course.skipped:
                notes.append(f"{path.name}: {course.skipped[name]}")
            elif name in course.assignments:
                chosen.append(Target(path, name))
            else:
                expected = ", ".join(sorted(a.notebook for a in course.assignments.values()))
                raise GradeError(f"{path.name} is not a notebook of this course; expected one of: {expected}")
        return chosen, notes
    if not course.released:
        raise GradeError("name the notebooks to check, e.g. grade check reference/05_attention_mechanism/"
                         "05_attention_mechanism.ipynb")
    released = course._released()
    chosen = []
    for name, assignment in sorted(course.assignments.items()):
        path = course.root / assignment.notebook
        if not path.is_file():
            notes.append(f"{assignment.notebook}: not found, skipped")
        elif _untouched(path, released.get(name, {}).get("notebook_code_sha256", "")):
            notes.append(f"{assignment.notebook}: not started (as released), skipped")
        else:
            chosen.append(Target(path, name))
    return chosen, notes


def _untouched(path: Path, released_sha256: str) -> bool:
    import warnings

    import nbformat

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return notebook_code_sha256(nbformat.read(path, as_version=4)) == released_sha256
    except Exception:  # noqa: BLE001 - a broken notebook is for the pipeline to reject, with its message
        return False


def use_sandbox(mode: SandboxMode, limits: Limits) -> tuple[bool, str]:
    """(sandboxed?, a note for the student when not)."""
    from grader.sandbox import bwrap as sandbox

    if mode == "off":
        return False, "running without a sandbox (--no-sandbox)"
    try:
        sandbox.probe(limits)
    except SandboxUnavailable as error:
        if mode == "on":
            raise
        return False, f"no sandbox on this machine ({error}); running your notebook without one, fine for your own code"
    return True, ""


@dataclass(frozen=True)
class Checked:
    target: Target
    grade: Grade


def check_notebook(target: Target, course: PublicCourse, *, sandboxed: bool, limits: Limits) -> Grade:
    """Grade one notebook against the public tests with the instructor's pipeline."""
    from grader.errors import InstructorError
    from grader.options import GradingOptions
    from grader.pipeline.submission import grade_submission

    assignment = course.assignments[target.assignment]
    scratch = Path(tempfile.mkdtemp(prefix="grade-check-"))
    try:
        # Only the notebook is copied into the sandbox's working copy, not the whole repo (.git, .venv, data).
        copy = scratch / assignment.notebook
        shutil.copyfile(target.path, copy)
        submission = Submission(student="you", assignment=assignment.name, kind=SubmissionKind.NOTEBOOK,
                                source=copy, content_hash=hashlib.sha256(copy.read_bytes()).hexdigest())
        try:
            return grade_submission(submission, assignment, GradingOptions(sandbox=sandboxed, limits=limits))
        except InstructorError:
            raise
        except Exception as error:  # noqa: BLE001 - e.g. a kernel that died as it started: this notebook's result
            return replace(assignment.blank_grade(submission), status=Status.ERROR,
                           message=f"the check could not run this notebook ({type(error).__name__}: {error}); "
                                   "if it happens again, run `grade check` once more or tell your instructor",
                           tests=assignment.rubric.not_run("the check could not run"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class CheckRequest:
    notebooks: tuple[Path, ...] = ()
    start: Path = Path(".")
    tests_from: Path | None = None
    tests_sha256: str = ""  # the pin; when given, edited tests are refused
    sandbox: SandboxMode = "auto"
    limits: Limits = Limits(cell_timeout_s=60.0, submission_timeout_s=300.0)


@dataclass(frozen=True)
class CheckOutcome:
    course: PublicCourse
    checked: tuple[Checked, ...]
    notes: tuple[str, ...]  # said once: no sandbox, notebooks left out, tests that differ from the release
    sandboxed: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return all(c.grade.status is Status.GRADED and all(t.outcome is Outcome.PASSED for t in c.grade.tests)
                   for c in self.checked)


def run_check(request: CheckRequest) -> CheckOutcome:
    """Find the course, pick the notebooks, decide on the sandbox, grade each against the public tests."""
    import time

    started = time.monotonic()
    course = find_course(request.start, tests_from=request.tests_from, tests_sha256=request.tests_sha256)
    notes: list[str] = []
    if course.released and not request.tests_sha256:
        pinned = course.manifest.get("public_tests_sha256", "")
        if pinned and pinned != course.tests_sha256:
            notes.append("tests/ or points.yaml differ from the release: your results may differ from your "
                         "instructor's (restore them from the release)")
    chosen, left_out = targets(course, list(request.notebooks))
    notes += left_out
    sandboxed = False
    if chosen:
        sandboxed, why = use_sandbox(request.sandbox, request.limits)
        if why:
            notes.insert(0, why)
    checked = tuple(Checked(t, check_notebook(t, course, sandboxed=sandboxed, limits=request.limits)) for t in chosen)
    return CheckOutcome(course=course, checked=checked, notes=tuple(notes), sandboxed=sandboxed,
                        seconds=time.monotonic() - started)
