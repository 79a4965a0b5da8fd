"""grader/students/ci.py: what `grade check --ci` leaves for CI: JUnit XML, a step summary, annotations."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from grader import models as m
from grader.students.ci import (NotebookResult, annotations, environment_fingerprint, junit_xml, markdown_summary,
                                passed)
from tests.factories import make_grade, make_test_result

NOTEBOOK = "05_attention_mechanism.ipynb"
CELLS = [
    "import torch",
    "def attention(q, k, v):\n    return q @ k.T @ v",
    "class MultiHead(torch.nn.Module):\n    pass",
    "print(undefined_name)",
]


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.fixture
def notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The student's notebook, at a path relative to the repository root (the working folder in CI)."""
    monkeypatch.chdir(tmp_path)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Attention")]
                                  + [nbformat.v4.new_code_cell(c) for c in CELLS])
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / NOTEBOOK)
    return Path("notebooks") / NOTEBOOK


def checked(notebook: Path, **changes: object) -> NotebookResult:
    tests = (
        make_test_result("test_attention_shape", part="Attention"),
        make_test_result("test_attention_values", "failed", part="Attention", max_points=3.0,
                         message="12 of 12 values differ\nlargest error 0.5 | at [0, 1] <b>"),
        make_test_result("test_multihead", "error", part="Multi-head", message="NameError: name 'x' is not defined"),
        make_test_result("test_optional", "skipped", part="Multi-head", max_points=0.0, message="needs a GPU"),
    )
    execution = m.Execution(m.Status.GRADED, cell_errors=(m.CellError(4, "NameError", "name 'undefined_name' is "
                                                                                      "not defined"),))
    grade = make_grade(assignment="05_attention_mechanism", tests=tests, execution=execution, duration_s=1.5,
                       **changes)
    names = {"test_attention_values": {"attention"}, "test_multihead": {"MultiHead", "attention"}}
    return NotebookResult(notebook, grade, names)


# -- JUnit ---------------------------------------------------------------------------------------
def test_junit_has_one_suite_per_notebook_and_one_case_per_test(notebook: Path) -> None:
    root = ET.fromstring(junit_xml([checked(notebook)]).split("\n", 1)[1])
    (suite,) = root.findall("testsuite")
    assert {k: suite.get(k) for k in ("name", "tests", "failures", "errors", "skipped", "time", "file")} == {
        "name": "05_attention_mechanism", "tests": "4", "failures": "1", "errors": "1", "skipped": "1",
        "time": "1.500", "file": str(notebook)}
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["test_attention_shape", "test_attention_values", "test_multihead", "test_optional"]
    assert [child.tag for child in cases["test_attention_shape"]] == ["properties"]
    failure = cases["test_attention_values"].find("failure")
    assert failure is not None and failure.get("type") == "failed"
    assert failure.text == "12 of 12 values differ\nlargest error 0.5 | at [0, 1] <b>"  # escaped by the XML writer
    assert cases["test_multihead"].find("error").get("message") == "NameError: name 'x' is not defined"
    assert cases["test_optional"].find("skipped").get("message") == "needs a GPU"
    assert cases["test_attention_values"].get("classname") == "05_attention_mechanism.Attention"
    points = cases["test_attention_values"].find("properties/property")
    assert (points.get("name"), points.get("value")) == ("points", "0/3")


def test_junit_survives_control_characters_and_cuts_long_attribute_messages(notebook: Path) -> None:
    noisy = make_test_result("test_noisy", "failed", message="\x1b[31mred\x1b[0m\x00" + "x" * 2000)
    text = junit_xml([NotebookResult(notebook, make_grade(tests=(noisy,)), {})])
    failure = ET.fromstring(text.split("\n", 1)[1]).find("testsuite/testcase/failure")
    assert failure.text == "?[31mred?[0m?" + "x" * 2000  # XML 1.0 cannot hold those characters
    assert failure.get("message") == ("?[31mred?[0m?" + "x" * 2000)[:500]


# -- the step summary ------------------------------------------------------------------------
def test_the_summary_shows_points_per_notebook_and_a_row_per_test(notebook: Path) -> None:
    text = markdown_summary([checked(notebook, message="cell 4 raised NameError")], {"python": "3.11", "torch": "2.5"},
                            ["public tests only: the hidden ones decide your grade"])
    assert f"### ❌ `{notebook}`: 2/7 public points" in text
    assert "> cell 4 raised NameError" in text
    assert ("| `test_attention_values` | Attention | failed | 0/3 | 12 of 12 values differ largest error 0.5 \\| "
            "at [0, 1] &lt;b&gt; |") in text
    assert "- public tests only: the hidden ones decide your grade" in text
    assert text.rstrip().endswith("Environment: python 3.11, torch 2.5")


def test_a_notebook_that_passes_everything_gets_a_check_mark(notebook: Path) -> None:
    result = NotebookResult(notebook, make_grade(), {})
    assert passed(result)
    assert f"### ✅ `{notebook}`: 5/5 public points" in markdown_summary([result], {}, [])
    assert not passed(NotebookResult(notebook, make_grade(status=m.Status.TIMEOUT), {}))


# -- annotations -----------------------------------------------------------------------------
def test_a_failing_test_is_annotated_at_the_cell_defining_what_it_calls(notebook: Path) -> None:
    lines = annotations(checked(notebook))
    attention, multihead = line_of(notebook, "def attention"), line_of(notebook, "class MultiHead")
    raised = line_of(notebook, "print(undefined_name)")
    assert lines == [
        f"::error file={notebook},line={attention},title=test_attention_values (cell 2)::"
        "12 of 12 values differ%0Alargest error 0.5 | at [0, 1] <b>",
        # two names under test: the first in sorted order that the notebook defines
        f"::error file={notebook},line={multihead},title=test_multihead (cell 3)::NameError: name 'x' is not defined",
        f"::warning file={notebook},line={raised},title=cell 4 raised NameError::name 'undefined_name' is not defined",
    ]


def test_a_test_calling_nothing_the_notebook_defines_points_at_the_first_cell_that_raised(notebook: Path) -> None:
    result = checked(notebook)
    result = NotebookResult(notebook, result.grade, {"test_attention_values": {"not_in_the_notebook"}})
    first = annotations(result)[0]
    assert first.startswith(f"::error file={notebook},line={line_of(notebook, 'print(undefined_name)')},"
                            "title=test_attention_values (cell 4)::")


def test_a_notebook_that_did_not_run_gets_an_error_on_line_one(notebook: Path) -> None:
    grade = make_grade(status=m.Status.TIMEOUT, message="cell 2 ran longer than 60 s", tests=(), execution=None)
    assert annotations(NotebookResult(notebook, grade, {})) == [
        f"::error file={notebook},line=1,title=notebook timeout::cell 2 ran longer than 60 s"]


def test_annotation_properties_are_escaped_so_a_name_cannot_end_the_command(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = Path("odd, name: 100%.ipynb")  # no such file: no cell positions, still an annotation
    test = make_test_result("test_x", "failed", message="50% done\r\nnext")
    (line,) = annotations(NotebookResult(path, make_grade(tests=(test,)), {}))
    assert line == "::error file=odd%2C name%3A 100%25.ipynb,line=1,title=test_x::50%25 done%0D%0Anext"


# -- the environment -------------------------------------------------------------------------
def test_the_environment_fingerprint_says_what_a_result_depends_on() -> None:
    found = environment_fingerprint(sandboxed=False, tests_sha256="abc123")
    assert {"grade", "python", "platform", "cpu", "cpus", "torch", "transformers", "numpy", "gpu"} <= set(found)
    assert found["sandbox"] == "no" and found["public_tests_sha256"] == "abc123"
    assert int(found["cpus"]) >= 1
    without = environment_fingerprint(sandboxed=True, tests_sha256="")
    assert without["sandbox"] == "yes" and "public_tests_sha256" not in without
