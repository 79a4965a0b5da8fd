"""benchmarks/vs_nbgrader.py's pure helpers: the class it builds and the nbgrader notebooks it writes
(the benchmark itself is not run here: it is a measurement, not a test)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("vs_nbgrader", REPO / "benchmarks" / "vs_nbgrader.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["vs_nbgrader"] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("vs_nbgrader", None)


def test_class_names_are_distinct_and_cycle_through_the_students(bench):
    names = bench.class_names(["ada", "jo"], 5)
    assert names == [("ada", "ada"), ("jo", "jo"), ("ada_copy1", "ada"), ("jo_copy1", "jo"), ("ada_copy2", "ada")]
    assert len({new for new, _ in names}) == 5
    assert bench.class_names(["ada", "jo", "kim"], 2) == [("ada", "ada"), ("jo", "jo")]
    with pytest.raises(ValueError):
        bench.class_names([], 3)


def test_demo_students_leave_out_the_endless_notebook(bench, tmp_path):
    for student in ("ada", "ivan_infinite_loop", "jo"):
        (tmp_path / student).mkdir()
        (tmp_path / student / "05_x.ipynb").write_text("{}")
    (tmp_path / "kim").mkdir()  # no notebook for this assignment
    assert bench.demo_students(tmp_path, "05_x") == ["ada", "jo"]


def test_grade_class_layout(bench, tmp_path):
    source = tmp_path / "submissions"
    (source / "ada").mkdir(parents=True)
    (source / "ada" / "05_x.ipynb").write_text("{}")
    bench.build_grade_class(source, tmp_path / "class", [("ada", "ada"), ("ada_copy1", "ada")], "05_x")
    assert sorted(p.relative_to(tmp_path / "class").as_posix() for p in (tmp_path / "class").rglob("*.ipynb")) == \
        ["ada/05_x.ipynb", "ada_copy1/05_x.ipynb"]


def test_nbgrader_notebooks_mark_solutions_and_tests(bench, tmp_path):
    tests = tmp_path / "test_x.py"
    tests.write_text("def helper():\n    pass\n\ndef test_one(student):\n    pass\n\n"
                     "def test_two(student, reference):\n    pass\n")
    found = bench.test_functions(tests)
    assert found == [("test_one", ["student"]), ("test_two", ["student", "reference"])]
    reference = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# x"),
        nbformat.v4.new_code_cell("import torch"),
        nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
    ])
    source = bench.nbgrader_source(reference, [(tests, name, fixtures, 2.0) for name, fixtures in found],
                                   tmp_path / "ref.ipynb", REPO)
    meta = [c.metadata.get("nbgrader") for c in source.cells]
    assert meta[1] is None and meta[2]["solution"] and not meta[2]["grade"]
    assert [m["grade_id"] for m in meta[3:]] == ["test_one", "test_two"]
    assert all(m["grade"] and m["locked"] and m["points"] == 2.0 for m in meta[3:])
    assert "test_two(_grade_student, _grade_reference)" in source.cells[4].source
    student = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch"),
                                              nbformat.v4.new_code_cell("def helper():\n    return 2"),
                                              nbformat.v4.new_code_cell("def f():\n    return helper()")])
    submitted = bench.nbgrader_submission(student, source)
    assert [c.source for c in submitted.cells[:3]] == [c.source for c in student.cells]  # their cells, extra too
    assert submitted.cells[2].metadata["nbgrader"]["grade_id"] == meta[2]["grade_id"]  # f's solution cell
    assert "nbgrader" not in submitted.cells[1].metadata
    assert [c.source for c in submitted.cells[3:]] == [c.source for c in source.cells[3:]]  # the tests as released
    assert "BEGIN SOLUTION" in source.cells[2].source  # the source notebook itself is not changed


def test_stage_line_is_read(bench):
    line = "time per stage (summed over 2 jobs): discover 0.1 s · execute 41.5 s · checks 18.2 s · score 3.0 s"
    assert bench.stage_seconds(f"table\n{line}\n") == {"discover": 0.1, "execute": 41.5, "checks": 18.2,
                                                        "score": 3.0}
    assert bench.stage_seconds("no such line") == {}
