"""From-scratch rules: the AST checker finds built-ins however they are imported, follows the
student's helpers and ignores uses outside the named functions (the rubric's deductions are in
tests/unit/course/test_rubric.py)."""

from __future__ import annotations

import pytest

from grader.checks.from_scratch import ScratchRule, check_rule, find_uses

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


def test_a_helper_judged_by_its_own_rule_is_not_followed() -> None:
    cells = ["import torch", "def conv2d(x, w):\n    return torch.conv2d(x, w)",
             "def net(x, w):\n    return conv2d(x, w)"]
    net_rule = ScratchRule(rule="scratch_net", within=("net",), forbid=("torch.conv2d",), points=1, why="net")
    assert check_rule(net_rule, cells)[0] == "failed"  # followed into conv2d
    assert check_rule(net_rule, cells, judged_elsewhere={"conv2d"}) == ("passed", "")
