"""Validity of notebook 05's checks, through the real pipeline and sandbox.

Each mutant (a realistic mistake applied to the reference notebook) must fail exactly the
tests its entry names and lose exactly their points; each correct alternative, written
differently from the reference, must get full marks.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

from grader.course import load_course
from grader.discover import discover
from grader.pipeline import GradingOptions, grade_class
from grader.sandbox import Limits
from grader.store import Gradebook
from tests.conftest import REPO, requires_sandbox

pytestmark = [pytest.mark.sandbox, requires_sandbox]
ASSIGNMENT = "05_attention_mechanism"
SPEC = yaml.safe_load((REPO / "tests/fixtures/mutants" / ASSIGNMENT / "mutants.yaml").read_text())


def apply(find: str, replace: str) -> nbformat.NotebookNode:
    nb = nbformat.read(REPO / "reference" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    hits = [c for c in nb.cells if c.cell_type == "code" and find in c.source]
    assert len(hits) == 1 and hits[0].source.count(find) == 1, f"snippet not unique: {find[:60]!r}"
    hits[0].source = hits[0].source.replace(find, replace)
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("validity")
    for entry in SPEC["mutants"] + SPEC["alternatives"]:
        folder = root / "subs" / entry["name"]
        folder.mkdir(parents=True)
        nbformat.write(apply(entry["find"], entry["replace"]), folder / f"{ASSIGNMENT}.ipynb")
    course = load_course(REPO)
    with Gradebook(str(root / "g.db")) as store:
        result = grade_class(discover(root / "subs", course, only={ASSIGNMENT}), course, store,
                             GradingOptions(limits=Limits(cell_timeout_s=30, submission_timeout_s=90), jobs=2))
    return {g.student: g for g in result.grades}


@pytest.mark.parametrize("mutant", SPEC["mutants"], ids=lambda m: m["name"])
def test_mutant_is_caught_by_the_intended_tests(graded, mutant) -> None:
    grade = graded[mutant["name"]]
    failed = {t.test_id for t in grade.tests if t.outcome != "passed"}
    assert failed == set(mutant["fails"]), grade.message
    lost = sum(t.max_points for t in grade.tests if t.test_id in failed)
    assert grade.score == grade.max_score - lost
    assert all(t.message for t in grade.tests if t.outcome != "passed"), "every failure says why"


@pytest.mark.parametrize("alternative", SPEC["alternatives"], ids=lambda a: a["name"])
def test_correct_alternative_gets_full_marks(graded, alternative) -> None:
    grade = graded[alternative["name"]]
    assert grade.score == grade.max_score, [(t.test_id, t.message) for t in grade.tests if t.outcome != "passed"]
