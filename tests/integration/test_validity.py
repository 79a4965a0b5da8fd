"""Validity of every notebook's checks, through the real pipeline and sandbox.

For each assignment with reference/<assignment>/mutants.yaml (the course's data, also reached
as tests/fixtures/mutants/<assignment>/mutants.yaml, a symlink): each mutant (a
realistic mistake applied to the reference notebook) must fail exactly the tests its entry
names and lose exactly their points; each correct alternative, written differently from
the reference, must get full marks; the reference itself gets full marks; and the notebook
as released to students (solutions stripped) gets 0, quickly.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader.course.environment import kernel_interpreter
from grader.course.mutants import Edit, MutantSpec, apply_edit, load_mutants
from grader.kinds import load_course
from grader.discover import discover
from grader.models import Grade
from grader.options import GradingOptions
from grader.pipeline.pool import grade_class
from grader.students.strip import strip_solutions
from grader.sandbox.bwrap import Limits
from grader.store.gradebook import Gradebook
from tests.conftest import REPO, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox]
SPECS: dict[str, MutantSpec] = {path.parent.name: load_mutants(path)
                                for path in sorted((REPO / "reference").glob("*/mutants.yaml"))}
# The bound for grading an unfilled notebook: its own execution and checks. Not the
# grade's duration_s, which also holds the worker's one-time costs (the warm template's
# imports, the reference namespace) that the first submission of a worker waits for: 10.4 s
# on a busy CI machine for 03 while its notebook ran in 0.1 s.
RELEASED_SECONDS = 10.0


def reference_notebook(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "reference" / assignment / f"{assignment}.ipynb", as_version=4)


def apply(assignment: str, edit: Edit) -> nbformat.NotebookNode:
    return apply_edit(reference_notebook(assignment), edit, str(SPECS[assignment].path))


_GRADED: dict[str, dict[str, Grade]] = {}  # assignment -> student -> grade, graded once per session


@pytest.fixture
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Grade]]:
    """The graded class of one assignment (reference, released, mutants, alternatives).
    Cached by hand: a module-scoped parametrized fixture is rebuilt each time pytest's
    order switches assignment, which graded every class three times."""
    assignment = request.param
    if assignment not in _GRADED:
        _GRADED[assignment] = grade_assignment_class(assignment, tmp_path_factory)
    return assignment, _GRADED[assignment]


def grade_assignment_class(assignment: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Grade]:
    """The class with 2 jobs; then the released notebook alone with 1 job, so that its time
    (the issue's bound) is the notebook's own and not its share of a busy class."""
    spec = SPECS[assignment]
    root = tmp_path_factory.mktemp(f"validity-{assignment}")
    notebooks = {"_reference": reference_notebook(assignment)}
    for entry in spec.entries:
        notebooks[entry.name] = apply(assignment, entry)
    write_class(root / "subs", assignment, notebooks)
    write_class(root / "released", assignment, {"_released": strip_solutions(reference_notebook(assignment), assignment)})
    course = load_course(REPO)
    limits = Limits(cell_timeout_s=60, submission_timeout_s=180)
    grades: dict[str, Grade] = {}
    with Gradebook(str(root / "g.db")) as store:
        for folder, jobs in (("subs", 2), ("released", 1)):
            result = grade_class(discover(root / folder, course, only={assignment}), course, store,
                                 GradingOptions(limits=limits, jobs=jobs, kernel=kernel_interpreter(course.config)))
            grades |= {g.student: g for g in result.grades}
    return grades


def write_class(folder: Path, assignment: str, notebooks: dict[str, nbformat.NotebookNode]) -> None:
    for student, nb in notebooks.items():
        (folder / student).mkdir(parents=True)
        nbformat.write(nb, folder / student / f"{assignment}.ipynb")


def entries(kind: str) -> list:
    """(assignment, entry) pairs; `graded` takes the assignment indirectly, so each
    assignment's class is graded once for all of its entries."""
    return [pytest.param(assignment, entry, id=f"{assignment}:{entry.name}")
            for assignment, spec in SPECS.items() for entry in getattr(spec, kind)]


def points_of_tests(grade: Grade) -> float:
    """The points the tests can give: max_score less the written parts a TA grades (never graded here)."""
    return sum(t.max_points for t in grade.tests)


def test_the_spec_is_big_enough() -> None:
    """The issue's bar: at least 8 realistic mutants and 2 alternatives per notebook."""
    for assignment, spec in SPECS.items():
        assert len(spec.mutants) >= 8 and len(spec.alternatives) >= 2, assignment


@pytest.mark.parametrize("graded", sorted(SPECS), indirect=True)
def test_reference_full_marks_and_released_notebook_zero(graded) -> None:
    assignment, grades = graded
    reference, released = grades["_reference"], grades["_released"]
    assert reference.score == points_of_tests(reference), [(t.test_id, t.message) for t in reference.tests if t.points == 0]
    assert released.status.value == "graded" and released.score == 0, released.message
    own_seconds = released.execution.duration_s + sum(t.duration_s for t in released.tests)
    assert own_seconds < RELEASED_SECONDS, f"{assignment}: released notebook took {own_seconds:.1f} s"


@pytest.mark.parametrize("graded,mutant", entries("mutants"), indirect=["graded"])
def test_mutant_is_caught_by_the_intended_tests(graded, mutant: Edit) -> None:
    grade = graded[1][mutant.name]
    failed = {t.test_id for t in grade.tests if t.outcome != "passed"}
    assert failed == set(mutant.fails), grade.message
    lost = sum(t.max_points for t in grade.tests if t.test_id in failed)
    deducted = -sum(t.points for t in grade.tests if t.points < 0)  # from-scratch rules
    assert grade.score == points_of_tests(grade) - lost - deducted
    assert all(t.message for t in grade.tests if t.outcome != "passed"), "every failure says why"


@pytest.mark.parametrize("graded,alternative", entries("alternatives"), indirect=["graded"])
def test_correct_alternative_gets_full_marks(graded, alternative: Edit) -> None:
    grade = graded[1][alternative.name]
    assert grade.score == points_of_tests(grade), [(t.test_id, t.message) for t in grade.tests if t.outcome != "passed"]
