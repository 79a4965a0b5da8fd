"""checks/runner.py: test files that do not collect are the course's fault, named with the file and the line;
so is a failed self-check (checks/selfcheck.py), named with the test, its file and the check;
a failing check helper's student message is recorded beside the full one, and nothing else's."""

from __future__ import annotations

import os
import types
from pathlib import Path

import pytest
import torch

from grader.checks.runner import COURSE_FILE, collect_tests, raise_for_collection, raise_for_self_checks, run_checks
from grader.errors import InstructorError
from grader.models import Outcome


def write(root: Path, name: str, text: str) -> Path:
    path = root / "tests" / "hidden" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_file_that_does_not_import_is_named_with_its_error_and_line(tmp_path: Path) -> None:
    good = write(tmp_path, f"test_{tmp_path.name}_good.py", "def test_fine():\n    pass\n")
    missing = write(tmp_path, f"test_{tmp_path.name}_import.py", "import os\nimport no_such_helper_module\n")
    syntax = write(tmp_path, f"test_{tmp_path.name}_syntax.py", "def test_a():\n    return [1, 2\n")
    plugin = collect_tests([good, missing, syntax], rootdir=tmp_path)
    assert plugin.collected == ["test_fine"]
    with pytest.raises(InstructorError) as info:
        raise_for_collection(plugin, tmp_path)
    message = str(info.value)
    assert f"{missing}: ModuleNotFoundError: No module named 'no_such_helper_module' (line 2)" in message
    assert f"{syntax}: SyntaxError: '[' was never closed (line 2)" in message
    assert str(good) not in message


def test_an_error_raised_in_an_imported_helper_gives_the_test_files_line(tmp_path: Path) -> None:
    (tmp_path / f"helper_{tmp_path.name}.py").write_text("VALUE = 1\nraise RuntimeError('helper broke')\n")
    test = write(tmp_path, f"test_{tmp_path.name}.py",
                 f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport helper_{tmp_path.name}\n")
    plugin = collect_tests([test], rootdir=tmp_path)
    with pytest.raises(InstructorError, match=r"RuntimeError: helper broke \(line 3\)"):
        raise_for_collection(plugin, tmp_path)


def test_no_test_files_collect_nothing_rather_than_the_working_folder(tmp_path: Path) -> None:
    plugin = collect_tests([], rootdir=tmp_path)
    assert plugin.collected == [] and plugin.collection_errors == []
    raise_for_collection(plugin, tmp_path)


CHECKS = """import pytest
import torch

from grader.checks.tensors import assert_close, assert_tensor

EXPECTED = torch.tensor([0.25, 0.6543])


def test_helper(student):
    assert_close(student.weights, EXPECTED, what="the weights")


def test_helper_naming_a_course_file(student):
    assert_tensor(student.weights, what="the weights of ROOT/data/w.pt", shape=(3,))


def test_plain_assert(student):
    assert student.weights.sum().item() == 0.9043, "the weights must sum to 0.9043"


def test_own_assertion(student):
    raise AssertionError(f"expected value is {EXPECTED.tolist()}")


def test_passes(student):
    assert_close(student.weights, student.weights, what="w")


@pytest.fixture
def broken_setup():
    assert_tensor(None, what="the fixture's tensor")


def test_setup_fails(broken_setup):
    pass
"""


def test_a_failing_check_records_its_student_message_and_anything_else_records_none(tmp_path: Path) -> None:
    test = write(tmp_path, f"test_{tmp_path.name}_student.py", CHECKS.replace("ROOT", str(tmp_path)))
    student = types.SimpleNamespace(weights=torch.tensor([0.25, 0.17]))
    plugin = run_checks([test], student=student, reference=types.ModuleType("reference"), rootdir=tmp_path)

    assert {name: outcome for name, (outcome, _, _) in plugin.outcomes.items()} == {
        "test_helper": Outcome.FAILED, "test_helper_naming_a_course_file": Outcome.FAILED,
        "test_plain_assert": Outcome.FAILED, "test_own_assertion": Outcome.FAILED, "test_passes": Outcome.PASSED,
        "test_setup_fails": Outcome.ERROR}
    full = plugin.outcomes["test_helper"][1]
    assert "expected 0.6543" in full and "largest error is 0.484" in full  # the staff's message, unchanged
    assert plugin.student_messages == {
        "test_helper": "the weights: 1 of 2 values differ from the expected ones; the largest error is at [1] "
                       "(got 0.17; shape (2); tolerance 1e-05 + 0.0001 * |expected|)",
        "test_helper_naming_a_course_file": f"the weights of {COURSE_FILE}: got shape (2), expected (3)",
        "test_setup_fails": "the fixture's tensor: returned None, expected a tensor",
    }
    assert str(tmp_path) in plugin.outcomes["test_helper_naming_a_course_file"][1]


SELF_CHECKS = """import pytest
import torch

from grader.checks.selfcheck import self_check


@pytest.fixture
def checked_in_setup():
    self_check(False, "the fixture's own sum")


def test_agrees(student):
    self_check(torch.equal(torch.ones(2).sum(), torch.tensor(2.0)), "ones sum to 2")
    assert student.answer == 2


def test_disagrees(student):
    self_check(torch.equal(torch.ones(2).sum(), torch.tensor(3.0)), "reference sum vs torch.sum")
    assert student.answer == 2


def test_in_setup(checked_in_setup):
    pass
"""


def test_a_failed_self_check_stops_the_run_naming_the_test_its_file_and_the_check(tmp_path: Path) -> None:
    test = write(tmp_path, f"test_{tmp_path.name}_self_check.py", SELF_CHECKS)
    plugin = run_checks([test], student=types.SimpleNamespace(answer=2), reference=types.ModuleType("reference"),
                        rootdir=tmp_path)
    with pytest.raises(InstructorError) as info:
        raise_for_self_checks(plugin, tmp_path, grading="ann's a1")
    message = str(info.value)
    assert message.startswith("hidden tests failed the grader's self-check while grading ann's a1: ")
    assert f"test_disagrees ({test}): reference sum vs torch.sum" in message
    assert f"test_in_setup ({test}): the fixture's own sum" in message
    assert "test_agrees" not in message
    assert message.endswith("fix the reference or the test")


def test_the_same_suite_name_in_another_course_folder_or_edited_runs_the_new_code(tmp_path: Path) -> None:
    """pytest names a test module by its path below the assignment's folder, so two course folders
    (or one file edited between runs of a long-lived worker) share a name: the new file must win."""
    first, second = tmp_path / "course_a", tmp_path / "course_b"
    name = "test_same_name_in_two_courses.py"
    a = write(first, name, "def test_from_a():\n    pass\n")
    b = write(second, name, "def test_from_b():\n    pass\n")
    assert collect_tests([a], rootdir=first).collected == ["test_from_a"]
    assert collect_tests([b], rootdir=second).collected == ["test_from_b"]

    b.write_text("def test_edited():\n    pass\n")
    os.utime(b, ns=(b.stat().st_atime_ns, b.stat().st_mtime_ns + 1_000_000))
    plugin = run_checks([b], student=None, reference=types.ModuleType("reference"), rootdir=second)
    assert plugin.collected == ["test_edited"]
    assert plugin.outcomes["test_edited"][0] == Outcome.PASSED


def test_seed_torch_leaves_the_generators_as_torch_manual_seed_does() -> None:
    import torch

    from grader.checks.runner import seed_torch

    torch.manual_seed(0)
    expected = torch.randn(5), torch.get_rng_state()
    torch.randn(7)  # move the generator on
    seed_torch(0)
    assert torch.equal(torch.randn(5), expected[0]) and torch.equal(torch.get_rng_state(), expected[1])
