"""grader/validate/leaks.py: which lines count as solution code."""

from __future__ import annotations

from pathlib import Path

from nbformat import write
from nbformat.v4 import new_code_cell, new_notebook

from grader.validate.leaks import code_of, solution_lines


def test_a_line_is_compared_without_indentation_and_trailing_comment() -> None:
    assert code_of("    scores = q @ k.T / math.sqrt(d)  # eq. 1") == "scores = q @ k.T / math.sqrt(d)"
    assert code_of('    s = "a # not a comment"') == 's = "a # not a comment"'
    assert code_of("    out = f(x,  # an open bracket") == "out = f(x,  # an open bracket"  # a fragment: kept whole


def test_solution_lines_are_the_long_code_lines_between_the_markers(tmp_path: Path) -> None:
    source = ("def f(x):\n    ### BEGIN SOLUTION\n    # a comment only, long enough to count otherwise\n"
              "    y = x\n    return torch.softmax(x, dim=-1)  # short enough?\n    ### END SOLUTION\n"
              "print(torch.softmax(torch.ones(3), dim=-1))")
    path = tmp_path / "ref.ipynb"
    write(new_notebook(cells=[new_code_cell(source)]), path)
    assert solution_lines(path) == {"return torch.softmax(x, dim=-1)"}
