"""From-scratch rules: the AST checker finds built-ins however they are imported, follows the
student's helpers, ignores uses outside the named functions, and the rubric deducts."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.checks.from_scratch import ScratchRule, check_rule, find_uses
from grader.errors import RubricError
from grader.course.rubric import load_rubric

RULE = ScratchRule(rule="scratch_conv2d", within=("conv2d",),
                   forbid=("torch.nn.functional.conv2d", "torch.conv2d", "torch.nn.Conv2d"), points=2,
                   why="conv2d must be written from scratch")


@pytest.mark.parametrize("cells", [
    ["import torch.nn.functional as F", "def conv2d(x, w):\n    return F.conv2d(x, w)"],
    ["import torch", "def conv2d(x, w):\n    return torch.nn.functional.conv2d(x, w)"],
    ["from torch.nn.functional import conv2d as c", "def conv2d(x, w):\n    return c(x, w)"],
    ["from torch import nn", "def conv2d(x, w):\n    return nn.Conv2d(1, 1, 3)(x)"],
    ["import torch\nG = torch.nn.functional", "def conv2d(x, w):\n    return G.conv2d(x, w)"],
    ["import torch.nn.functional as F", "def conv2d(x, w):\n    return getattr(F, 'conv2d')(x, w)"],
    ["import torch", "def _helper(x, w):\n    return torch.conv2d(x, w)\n\ndef conv2d(x, w):\n    return _helper(x, w)"],
    ["%matplotlib inline\nimport torch.nn.functional as F", "def conv2d(x, w):\n    y = F.conv2d(x, w)\n    return y"],
])
def test_builtin_use_is_found(cells: list[str]) -> None:
    outcome, message = check_rule(RULE, cells)
    assert outcome == "failed"
    assert "conv2d must be written from scratch" in message and "code cell" in message


@pytest.mark.parametrize("cells", [
    ["import torch.nn.functional as F",
     "def conv2d(x, w):\n    cols = F.unfold(x, w.shape[-1])\n    return (w.flatten(1) @ cols)",
     "print(torch.allclose(conv2d(x, w), F.conv2d(x, w)))"],  # the built-in only to compare, outside
    ["import torch", "def conv2d(x, w):\n    return x.unfold(2, 3, 1)"],
    ["def conv2d(x, w):\n    return conv2d(x, w) if False else x"],  # recursion is not a built-in
    ["def broken(:\n    pass", "def conv2d(x, w):\n    return x"],  # a cell that does not parse is skipped
])
def test_code_without_the_builtin_passes(cells: list[str]) -> None:
    assert check_rule(RULE, cells) == ("passed", "")


def test_uses_report_the_function_and_line() -> None:
    uses = find_uses(RULE, ["import torch", "x = 1\n\ndef conv2d(x, w):\n    pass\n    return torch.conv2d(x, w)"])
    assert [(u.name, u.where, u.cell, u.line) for u in uses] == [("torch.conv2d", "conv2d", 2, 5)]


RUBRIC = """
assignment: demo
notebook: demo.ipynb
parts:
  - name: Convolution
    tests: {test_a: 2, test_b: 1}
    from_scratch:
      - rule: scratch_conv2d
        within: [conv2d]
        forbid: [torch.nn.functional.conv2d]
        points: 2
        why: write it yourself
"""


def test_a_broken_rule_deducts_at_most_what_the_part_earned(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(RUBRIC)
    rubric = load_rubric(path)
    assert rubric.max_score == 3 and set(rubric.tests) == {"test_a", "test_b"}
    full = rubric.score({"test_a": ("passed", "", 0), "test_b": ("passed", "", 0),
                         "scratch_conv2d": ("failed", "used F.conv2d", 0)})
    assert sum(t.points for t in full) == 1
    assert [t.points for t in full if t.test_id == "scratch_conv2d"] == [-2]
    partial = rubric.score({"test_a": ("failed", "", 0), "test_b": ("passed", "", 0),
                            "scratch_conv2d": ("failed", "used F.conv2d", 0)})
    assert sum(t.points for t in partial) == 0  # never below zero for the part
    clean = rubric.score({"test_a": ("passed", "", 0), "test_b": ("passed", "", 0),
                          "scratch_conv2d": ("passed", "", 0)})
    assert sum(t.points for t in clean) == 3
    assert all(t.points == 0 for t in rubric.not_run("timeout"))


def test_a_rule_without_forbid_list_is_a_rubric_error(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(RUBRIC.replace("forbid: [torch.nn.functional.conv2d]", "forbid: []"))
    with pytest.raises(RubricError, match="within.*forbid"):
        load_rubric(path)


def test_a_helper_judged_by_its_own_rule_is_not_followed() -> None:
    cells = ["import torch", "def conv2d(x, w):\n    return torch.conv2d(x, w)",
             "def net(x, w):\n    return conv2d(x, w)"]
    net_rule = ScratchRule(rule="scratch_net", within=("net",), forbid=("torch.conv2d",), points=1, why="net")
    assert check_rule(net_rule, cells)[0] == "failed"  # followed into conv2d
    assert check_rule(net_rule, cells, judged_elsewhere={"conv2d"}) == ("passed", "")
