"""One assignment's checks graded as a class, through the real pipeline and sandbox, and judged.

The class: the reference notebook (full marks), the notebook as `grade release` publishes it
(0, and it runs to the end), each mutant of mutants.yaml (fails exactly its `fails:` and
loses exactly their points, every failure with a message), each correct alternative (full
marks). It is graded by grader.pipeline.pool.grade_class into a gradebook of validate's own,
so nothing the instructor's gradebook holds changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import nbformat

from grader.course.assignments import Assignment, Course
from grader.course.mutants import Edit, apply_edit, mutants_path
from grader.discover import discover
from grader.errors import InstructorError
from grader.models import Grade, Outcome, Status
from grader.options import GradingOptions
from grader.pipeline.pool import grade_class
from grader.store.gradebook import Gradebook
from grader.validate.findings import Finding, Severity
from grader.validate.strength import Mutants

REFERENCE, RELEASED = "reference", "released"
SHOWN = 3  # failing tests named in one line; the rest are counted


@dataclass(frozen=True)
class Graded:
    findings: tuple[Finding, ...]
    summary: str


@dataclass(frozen=True)
class Listener:
    """What the progress display is told while one assignment's class is graded."""

    start: Callable[[int], None] = lambda total: None
    advance: Callable[[Grade], None] = lambda grade: None
    phase: Callable[[str], None] = lambda description: None


def grading_findings(course: Course, assignment: Assignment, released: Path | None, mutants: Mutants,
                     store: Gradebook, options: GradingOptions, folder: Path, listener: Listener) -> Graded:
    """Grade the class in `folder` (made here) and judge every grade."""
    name = assignment.name
    spec = mutants.spec
    spec_path = spec.path if spec else mutants_path(assignment.root)
    reference = nbformat.read(assignment.reference_notebook, as_version=4)
    notebooks = {REFERENCE: reference}
    if released is not None:
        notebooks[RELEASED] = nbformat.read(released, as_version=4)
    found: list[Finding] = []
    edits: dict[str, Edit] = {}
    for edit in mutants.usable:  # each applies and names known tests (grader/validate/strength.py checked)
        student = f"{'mutant' if edit.fails else 'alternative'}-{edit.name}"
        notebooks[student] = apply_edit(reference, edit, str(spec_path))
        edits[student] = edit
    for student, notebook in notebooks.items():
        (folder / student).mkdir(parents=True)
        nbformat.write(notebook, folder / student / assignment.rubric.notebook)
    try:
        result = grade_class(discover(folder, course, only={name}), course, store, options,
                             on_start=listener.start, on_grade=lambda grade, reused: listener.advance(grade),
                             on_phase=listener.phase)
    except InstructorError as error:
        return Graded((*found, Finding(name, Severity.PROBLEM, " ".join(str(error).split()))), "not graded")
    # The tests' points only: a manual part needs a TA, so no notebook earns it here.
    manual_max = assignment.rubric.max_score - assignment.rubric.auto_max_score
    grades = {grade.student: replace(grade, max_score=grade.max_score - manual_max) for grade in result.grades}
    found += _judge_reference(assignment, grades[REFERENCE])
    if RELEASED in grades:
        found += _judge_released(assignment, grades[RELEASED])
    caught = alternatives = 0
    for student, edit in edits.items():
        problems = (_judge_mutant(assignment, edit, grades[student], spec_path) if edit.fails
                    else _judge_alternative(assignment, edit, grades[student], spec_path))
        found += problems
        if all(f.severity is not Severity.PROBLEM for f in problems):
            caught, alternatives = (caught + 1, alternatives) if edit.fails else (caught, alternatives + 1)
    ref = grades[REFERENCE]
    summary = f"reference {ref.score:g}/{ref.max_score:g}"
    if RELEASED in grades:
        summary += f", released notebook {grades[RELEASED].score:g}"
    if spec is not None:
        summary += (f", {caught}/{len(spec.mutants)} mutants caught as specified, "
                    f"{alternatives}/{len(spec.alternatives)} alternatives full marks")
    return Graded(tuple(found), summary)


def _failing(grade: Grade) -> list[str]:
    return [t.test_id for t in grade.tests if t.outcome is not Outcome.PASSED]


def _explain(grade: Grade) -> str:
    """The failing tests with their messages, shortened to one line."""
    failing = [t for t in grade.tests if t.outcome is not Outcome.PASSED]
    shown = [f"{t.test_id} ({' '.join(t.message.split())[:160]})" for t in failing[:SHOWN]]
    more = f" and {len(failing) - SHOWN} more" if len(failing) > SHOWN else ""
    if grade.status is not Status.GRADED:
        return f"{grade.status.value}: {' '.join(grade.message.split())[:300]}"
    return "; ".join(shown) + more


def _judge_reference(assignment: Assignment, grade: Grade) -> list[Finding]:
    if grade.status is Status.GRADED and abs(grade.score - grade.max_score) < 1e-9:
        return []
    return [Finding(assignment.name, Severity.PROBLEM, f"the reference gets {grade.score:g}/{grade.max_score:g} in "
                    f"the sandbox: {_explain(grade)}", assignment.reference_notebook)]


def _judge_released(assignment: Assignment, grade: Grade) -> list[Finding]:
    if grade.status is not Status.GRADED:
        return [Finding(assignment.name, Severity.PROBLEM, "the released notebook does not run to the end in the "
                        f"sandbox ({_explain(grade)}); students get it like this", assignment.reference_notebook)]
    if grade.score > 0:
        passing = [t.test_id for t in grade.tests if t.outcome is Outcome.PASSED and t.points > 0]
        return [Finding(assignment.name, Severity.PROBLEM, f"the released notebook (no solutions) gets "
                        f"{grade.score:g}/{grade.max_score:g}: {', '.join(passing)} pass without any solution; "
                        "put the solution between the markers or make the tests check values",
                        assignment.reference_notebook)]
    return []


def _judge_mutant(assignment: Assignment, edit: Edit, grade: Grade, spec_path: Path) -> list[Finding]:
    name = assignment.name
    expected, failed = set(edit.fails), set(_failing(grade))
    if failed != expected:
        said = []
        if expected - failed:
            said.append(f"no longer fails {', '.join(sorted(expected - failed))}")
        if failed - expected:
            said.append(f"also fails {', '.join(sorted(failed - expected))}")
        status = "" if grade.status is Status.GRADED else f" ({_explain(grade)})"
        return [Finding(name, Severity.PROBLEM, f"mutant {edit.name} {' and '.join(said)}: its `fails:` says "
                        f"{', '.join(sorted(expected))}{status}", spec_path)]
    lost = sum(t.max_points for t in grade.tests if t.test_id in failed)
    deducted = -sum(t.points for t in grade.tests if t.points < 0)  # from-scratch rules
    found = []
    if abs(grade.score - (grade.max_score - lost - deducted)) > 1e-9:
        found.append(Finding(name, Severity.PROBLEM, f"mutant {edit.name} loses {grade.max_score - grade.score:g} "
                             f"points, not the {lost + deducted:g} its failing tests are worth", spec_path))
    elif lost + deducted <= 0:
        found.append(Finding(name, Severity.WARNING, f"mutant {edit.name} fails only tests worth 0 points: the "
                             "mistake costs a student nothing", spec_path))
    silent = [t.test_id for t in grade.tests if t.outcome is not Outcome.PASSED and not t.message.strip()]
    if silent:
        found.append(Finding(name, Severity.PROBLEM, f"mutant {edit.name} fails {', '.join(silent)} without a "
                             "message; a student would not learn why", assignment.tests_root))
    return found


def _judge_alternative(assignment: Assignment, edit: Edit, grade: Grade, spec_path: Path) -> list[Finding]:
    if grade.status is Status.GRADED and abs(grade.score - grade.max_score) < 1e-9:
        return []
    return [Finding(assignment.name, Severity.PROBLEM, f"alternative {edit.name} (a correct solution) gets "
                    f"{grade.score:g}/{grade.max_score:g}: {_explain(grade)}", spec_path)]
