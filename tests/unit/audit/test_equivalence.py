"""Comparing probe digests (what decides 'equivalent'), building the probed notebook, coverage."""

from __future__ import annotations

from pathlib import Path

import nbformat
import torch

from grader.audit.coverage import covering_tests
from grader.audit.equivalence import DIGEST_NAME, ProbeResult, differences, instrumented, unstable_keys, verdict


def result(**values) -> ProbeResult:
    return ProbeResult("graded", (), values)


def test_differences() -> None:
    t = torch.tensor([1.0, 2.0])
    assert differences({"a": t, "b": [1, "x"]}, {"a": t + 1e-9, "b": [1, "x"]}) == []
    assert differences({"a": t}, {"a": t * 2}) == ["a"]
    assert differences({"a": t}, {"a": t.double()}) == ["a"], "a dtype change is a change"
    assert differences({"a": torch.tensor([float("nan")])}, {"a": torch.tensor([float("nan")])}) == []
    assert differences({"n": 1}, {"n": 1.0}) == ["n"]
    assert differences({"m": torch.tensor([True])}, {"m": torch.tensor([False])}) == ["m"]
    assert differences({"a": 1}, {"b": 1}) != []


def test_verdict() -> None:
    reference = result(x=1.0, y=2.0)
    assert verdict(reference, result(x=1.0, y=2.0), set()).equivalent
    assert not verdict(reference, result(x=1.0, y=3.0), set()).equivalent
    assert verdict(reference, result(x=1.0, y=3.0), {"y"}).equivalent, "unstable entries are not compared"
    assert not verdict(reference, ProbeResult("graded", ("ValueError",), {"x": 1.0, "y": 2.0}), set()).equivalent
    timed_out = ProbeResult("timeout", (), message="cell 3 ran longer than 60 s")
    assert verdict(reference, timed_out, set()).why == "cell 3 ran longer than 60 s"
    assert unstable_keys(result(x=1.0, y=2.0), result(x=1.0, y=2.5)) == {"y"}


def test_instrumented_notebook_records_solution_cells_and_ends_with_the_digest() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np"),
                nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),
                nbformat.v4.new_code_cell("y = f(2)")]
    sources = [c.source for c in instrumented(nb).cells]
    assert "Probe(globals(), False)" in sources[0]
    assert sources[1:] == ["import numpy as np", "_grade_audit.expect_cell(1)", nb.cells[1].source,
                           "_grade_audit.wrap_cell(['f'])", "y = f(2)", f"{DIGEST_NAME} = _grade_audit.digest()"]


def test_probe_digest_in_process() -> None:
    """The probe's own logic (it runs in the sandbox during an audit): calls recorded and replayed."""
    from grader.audit import probe

    namespace: dict = {}
    p = probe.Probe(namespace, True)
    exec("def f(x):\n    return (x * 2).sum()", namespace)
    p.wrap_cell(["f"])
    namespace["y"] = namespace["f"](torch.ones(3, requires_grad=True))
    digest = p.digest()
    assert digest["recorded:f:0"]["tensor"].item() == 6.0
    assert digest["gradients:f:0"][0]["tensor"].tolist() == digest["gradients:f:0"][0]["tensor"].tolist()
    assert set(digest) >= {"recorded:f:0", "random:f:0", "grad:f:0", "gradients:f:0", "value:y"}


def test_covering_tests(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        "def helper(student):\n    return student.attention(1)\n\n"
        "def test_direct(student):\n    assert student.mask(2)\n\n"
        "def test_through_helper(student):\n    assert helper(student)\n\n"
        "def test_by_string(student):\n    assert getattr(student, 'attention')\n\n"
        "def test_other(student):\n    assert student.other()\n")
    assert covering_tests([tmp_path / "test_x.py"], "attention") == ["test_through_helper", "test_by_string"]
    assert covering_tests([tmp_path / "test_x.py"], "mask") == ["test_direct"]
    assert covering_tests([tmp_path / "test_x.py"], "") == []
