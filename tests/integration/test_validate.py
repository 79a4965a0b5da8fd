"""`grade new` then `grade validate`, end to end through the CLI, on a fresh course.

The scaffold passes as written; each broken copy of it (a rubric naming a missing test, a
reference that fails a test, a release that names a hidden test, a mutant that no longer loses
its points, ...) exits 1 with the line that names the problem and the file to fix. The tests
that grade run the real pipeline and sandbox (marker `sandbox`); the others use --quick,
which grades nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner, Result

from grader.cli import main
from tests.conftest import requires_sandbox

NAME = "08_softmax"
RUBRIC = f"rubrics/{NAME}.yaml"
MUTANTS = f"reference/{NAME}/mutants.yaml"
PUBLIC = f"reference/{NAME}/tests/public/test_{NAME}_public.py"
NOTEBOOK = f"reference/{NAME}/{NAME}.ipynb"


EXAMPLE_MUTANT = """
mutants:
  - name: no_max_shift
    find: "shifted = x - x.max(dim=-1, keepdim=True).values"
    replace: "shifted = x"
    fails: [test_softmax_is_stable]
"""


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh course holding one assignment, as `grade new` writes it."""
    root = tmp_path_factory.mktemp("scaffold") / "course"
    result = CliRunner().invoke(main, ["new", NAME, "--course", str(root)])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def course(scaffold: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the scaffold to break, as the working folder (lines name files relative to it)."""
    root = Path(shutil.copytree(scaffold, tmp_path / "course"))
    monkeypatch.chdir(root)
    return root


def validate(course: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["validate", "--course", str(course), "--jobs", "2", *args],
                              env={"COLUMNS": "200", "HF_HUB_OFFLINE": "1"})


def lines(result: Result) -> list[str]:
    return result.stdout.splitlines()


def problems(result: Result) -> list[str]:
    """The lines that make validate exit 1 (the scaffold's empty mutants.yaml is a warning in every copy)."""
    return [line for line in lines(result) if ": warning: " not in line and ": ok (" not in line]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def edit_cell(path: Path, old: str, new: str) -> None:
    """Replace text in the one notebook cell that holds it."""
    nb = nbformat.read(path, as_version=4)
    (cell,) = [c for c in nb.cells if old in c.source]
    cell.source = cell.source.replace(old, new)
    nbformat.write(nb, path)


@pytest.mark.sandbox
@requires_sandbox
def test_the_scaffold_passes_validate_as_written(course: Path) -> None:
    result = validate(course)
    assert result.exit_code == 0, result.output
    assert lines(result) == [
        f"{NAME}: warning: mutants.yaml lists no mutants: nothing shows that the hidden tests catch the mistakes "
        f"they are for ({MUTANTS})",
        f"{NAME}: ok (reference 4/4, released notebook 0, 0/0 mutants caught as specified, 0/0 alternatives "
        "full marks)",
    ]


@pytest.mark.sandbox
@requires_sandbox
def test_a_mutant_that_no_longer_loses_its_points_is_a_problem(course: Path) -> None:
    """The commented example mutant is caught; one whose edit changes nothing is not; an alternative passes."""
    (course / MUTANTS).write_text(EXAMPLE_MUTANT + """  - name: harmless
    find: "exps = shifted.exp()"
    replace: "exps = torch.exp(shifted)"
    fails: [test_softmax_matches_reference]
alternatives:
  - name: log_space
    find: "return exps / exps.sum(dim=-1, keepdim=True)"
    replace: "return (x - x.logsumexp(dim=-1, keepdim=True)).exp()"
""")
    result = validate(course)
    assert result.exit_code == 1, result.output
    assert problems(result) == [f"{NAME}: mutant harmless no longer fails test_softmax_matches_reference: its "
                             f"`fails:` says test_softmax_matches_reference ({MUTANTS})"]


def test_a_rubric_naming_a_missing_test_is_a_problem(course: Path) -> None:
    edit(course / RUBRIC, "test_softmax_is_stable: 1", "test_softmax_is_stable: 1\n      test_softmax_of_nothing: 2")
    result = validate(course, "--quick")
    assert result.exit_code == 1, result.output
    assert f"{NAME}: the rubric lists test_softmax_of_nothing, which no test file defines; rename it to an " \
           f"existing test or delete it ({RUBRIC})" in lines(result)


def test_a_test_without_points_and_a_rule_worth_more_than_its_part_are_problems(course: Path) -> None:
    edit(course / RUBRIC, "      test_softmax_is_stable: 1\n", "")
    edit(course / RUBRIC, "points: 1", "points: 9")
    result = validate(course, "--quick")
    assert result.exit_code == 1, result.output
    hidden = f"reference/{NAME}/tests/hidden/test_{NAME}_hidden.py"
    assert problems(result) == [
        f"{NAME}: rule scratch_softmax deducts 9 points from part 'Softmax', which is worth 3; lower the rule's "
        f"points ({RUBRIC})",
        f"{NAME}: test test_softmax_is_stable has no points in the rubric; add it under a part's `tests:` (0 points "
        f"is allowed) or delete it ({hidden})",
    ]


def test_a_reference_that_fails_a_test_is_a_problem(course: Path) -> None:
    edit_cell(course / NOTEBOOK, "shifted = x - x.max(dim=-1, keepdim=True).values", "shifted = x")
    result = validate(course, "--quick")
    assert result.exit_code == 1, result.output
    (line,) = [line for line in lines(result) if "fails its own tests" in line]
    assert line.startswith(f"{NAME}: the reference notebook {NOTEBOOK} fails its own tests, so every student would "
                           "lose these points; fix the reference or the tests: test_softmax_is_stable")


def test_a_release_that_names_a_hidden_test_or_holds_a_solution_line_is_a_problem(course: Path) -> None:
    edit(course / PUBLIC, '"""softmax(x) keeps the shape of x: one distribution per row."""',
         '"""softmax(x) keeps the shape of x (test_softmax_is_stable checks large scores)."""')
    edit_cell(course / NOTEBOOK, "## 1. Softmax", "## 1. Softmax (the grader's test_softmax_matches_reference)")
    edit_cell(course / NOTEBOOK, "with suppress(NotImplementedError):",
              "x = torch.tensor([[1.0, 2.0]])\nshifted = x - x.max(dim=-1, keepdim=True).values\n"
              "with suppress(NotImplementedError):")
    result = validate(course, "--quick")
    assert result.exit_code == 1, result.output
    assert problems(result) == [
        f"{NAME}: the release's {NAME}.ipynb names a hidden test or file: test_softmax_matches_reference; students "
        f"must not learn what the hidden tests are ({NOTEBOOK})",
        f"{NAME}: the release's {NAME}.ipynb holds solution code: 'shifted = x - x.max(dim=-1, keepdim=True).values'; "
        f"it also appears outside the solution markers ({NOTEBOOK})",
        f"{NAME}: the release's tests/{NAME}/test_{NAME}_public.py names a hidden test or file: "
        f"test_softmax_is_stable; students must not learn what the hidden tests are ({PUBLIC})",
    ]


def test_a_model_answer_found_in_the_release_is_a_problem(course: Path) -> None:
    """A written answer's cell goes out as YOUR ANSWER HERE; its model answer copied anywhere else is found."""
    answer = "Subtracting the row maximum leaves the softmax unchanged and keeps exp from overflowing."
    nb = nbformat.read(course / NOTEBOOK, as_version=4)
    # A second question beside the scaffold's own (why_shift), whose answer must not leak either.
    nb.cells[1:1] = [nbformat.v4.new_markdown_cell("### Written answer (why_max)\n\nWhy subtract the max?"),
                     nbformat.v4.new_markdown_cell(answer, metadata={"grade": {"written": "why_max"}})]
    nbformat.write(nb, course / NOTEBOOK)
    clean = validate(course, "--quick")
    assert not [line for line in lines(clean) if "model answer" in line], clean.output
    edit(course / PUBLIC, '"""softmax(x) keeps the shape of x: one distribution per row."""',
         f'"""softmax(x) keeps the shape of x.\n\n    {answer}\n    """')
    result = validate(course, "--quick")
    assert result.exit_code == 1, result.output
    assert problems(result) == [
        f"{NAME}: the release's tests/{NAME}/test_{NAME}_public.py holds a model answer to a written question: "
        f"{answer!r}; a cell marked grade.written must go out as `YOUR ANSWER HERE`, and the answer must not be "
        f"written anywhere else ({PUBLIC})",
    ]


def test_the_release_never_ships_mutants_yaml(course: Path, tmp_path: Path) -> None:
    from grader.kinds import load_course
    from grader.students.release import ReleaseOptions, build_release

    assert (course / MUTANTS).is_file()
    release = build_release(load_course(course), ReleaseOptions(out=tmp_path / "release"))
    assert not [path for path in release.files if path.name == "mutants.yaml"]
    assert not [path for path in release.files if "hidden" in path.as_posix()]


def test_a_missing_mutants_yaml_warns_or_fails_as_the_rubric_says(course: Path) -> None:
    (course / MUTANTS).unlink()
    expected = f"no mutants.yaml: nothing shows that the hidden tests catch the mistakes they are for; write one " \
               f"(grade new writes an example) ({MUTANTS})"
    result = validate(course, "--quick")
    assert result.exit_code == 0, result.output
    assert f"{NAME}: warning: {expected}" in lines(result)
    (course / RUBRIC).write_text((course / RUBRIC).read_text() + "on_weak_suite: fail\n")
    result = validate(course, "--quick")
    assert result.exit_code == 1, result.output
    assert f"{NAME}: {expected}" in lines(result)


def test_the_audit_must_be_current_and_reach_the_rubrics_minimum(course: Path) -> None:
    from grader.kinds import load_course

    (course / RUBRIC).write_text((course / RUBRIC).read_text() + "min_mutation_score: 0.8\non_weak_suite: fail\n")
    (course / MUTANTS).write_text(EXAMPLE_MUTANT)  # an empty list would be a weak suite (a problem) as well
    result = validate(course, "--quick")
    assert result.exit_code == 1, result.output
    record = f".grade/audit/{NAME}.json"
    assert f"{NAME}: no current audit (none recorded): run grade audit {NAME} ({record})" in lines(result)

    hashes = load_course(course).assignments[NAME].hashes
    (course / record).parent.mkdir(parents=True)
    audit = {"assignment": NAME, **hashes, "mutation_score": 0.5, "generated": 10, "equivalent": 0, "graded": 10,
             "caught": 5, "survivors": [{"name": f"m{i}"} for i in range(5)]}
    (course / record).write_text(json.dumps(audit))
    result = validate(course, "--quick")
    assert result.exit_code == 1, result.output
    assert f"{NAME}: the hidden tests catch 50% of grade audit's mutants, under the rubric's min_mutation_score " \
           f"80%; 5 survived (listed in the record): add tests that catch them ({RUBRIC})" in lines(result)

    (course / record).write_text(json.dumps(audit | {"mutation_score": 0.9}))
    result = validate(course, "--quick")
    assert result.exit_code == 0, result.output
    assert lines(result)[-1] == f"{NAME}: ok (rubric, pre-flight and release checked; not graded (--quick), " \
                                "mutation score 90% (minimum 80%))"

    edit(course / PUBLIC, "one distribution per row", "one distribution per row, each summing to 1")
    result = validate(course, "--quick")
    assert f"{NAME}: no current audit (the tests, reference or rubric changed since): run grade audit {NAME} " \
           f"({record})" in lines(result)


def test_a_mutant_of_a_parts_main_function_losing_under_min_part_loss_warns_or_fails(course: Path) -> None:
    assert "    main: [softmax]" in (course / RUBRIC).read_text()  # as grade new writes it
    (course / RUBRIC).write_text((course / RUBRIC).read_text() + "min_part_loss: 0.5\n")
    (course / MUTANTS).write_text(EXAMPLE_MUTANT)  # no_max_shift fails test_softmax_is_stable: 1 of 4 points
    expected = "mutant no_max_shift of softmax loses 1/4 points of part 'Softmax' (25%), under min_part_loss 50%: " \
               f"weigh the tests that catch it more, or add one ({RUBRIC})"
    result = validate(course, "--quick")
    assert result.exit_code == 0, result.output
    assert f"{NAME}: warning: {expected}" in lines(result)
    (course / RUBRIC).write_text((course / RUBRIC).read_text() + "on_weak_suite: fail\n")
    result = validate(course, "--quick")
    assert result.exit_code == 1, result.output
    assert problems(result) == [f"{NAME}: {expected}"]


def test_a_course_without_course_yaml_gets_a_warning_line(course: Path) -> None:
    (course / "course.yaml").unlink()
    result = validate(course, "--quick")
    assert result.exit_code == 0, result.output
    assert lines(result)[0] == "course: warning: no course.yaml: the course is titled by its folder and grades " \
                               "every rubric in file order; `grade new` writes one (course.yaml)"


def test_a_model_assignment_scaffold_validates_without_a_notebook_run(course: Path) -> None:
    result = CliRunner().invoke(main, ["new", "review_classifier", "--kind", "model", "--course", str(course)])
    assert result.exit_code == 0, result.output
    result = validate(course, "review_classifier")
    assert result.exit_code == 0, result.output
    assert lines(result) == ["review_classifier: ok (rubric, settings and release checked)"]
