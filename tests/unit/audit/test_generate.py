"""Mutants of a notebook: only inside solution regions, stable ids, a readable diff, a fair sample."""

from __future__ import annotations

import nbformat
import pytest

from grader.audit.generate import generate_mutants, sample, solution_regions
from grader.errors import GradeError

CELL = '''def scaled(x, d):
    """x / sqrt(d)."""
    ### BEGIN SOLUTION
    return x / math.sqrt(d)
    ### END SOLUTION

demo = scaled(4.0, 4)  # outside the region: never mutated
'''


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title")] + [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def test_only_solution_regions_are_mutated() -> None:
    mutants = generate_mutants(notebook("import math\nx = 1 + 2", CELL))
    assert mutants and all(m.cell == 2 and m.cell_index == 2 and m.line == 4 for m in mutants)
    assert all("demo = scaled(4.0, 4)" in m.source for m in mutants)
    assert {m.operator for m in mutants} >= {"scale_factor", "arithmetic", "swap_operands"}
    assert all(m.scope == "scaled" for m in mutants)


def test_a_mutant_has_a_stable_id_a_diff_and_a_notebook() -> None:
    first, again = generate_mutants(notebook(CELL)), generate_mutants(notebook(CELL))
    assert [m.id for m in first] == [m.id for m in again] and len({m.id for m in first}) == len(first)
    dropped = next(m for m in first if m.description.startswith("scale factor"))
    assert "-    return x / math.sqrt(d)\n+    return x" in dropped.diff()
    reference = notebook(CELL)
    mutated = dropped.notebook(reference)
    assert mutated.cells[1].source == dropped.source and reference.cells[1].source == CELL


def test_magics_do_not_stop_generation() -> None:
    assert generate_mutants(notebook("%matplotlib inline\n" + CELL))


def test_unpaired_markers_are_the_instructors_mistake() -> None:
    with pytest.raises(GradeError, match="code cell 1.*BEGIN SOLUTION without END"):
        generate_mutants(notebook("def f():\n    ### BEGIN SOLUTION\n    return 1\n"))
    assert solution_regions(CELL) == [(3, 5)]


def test_sample_is_deterministic_and_spreads_over_operators() -> None:
    mutants = generate_mutants(notebook(CELL + "\n" + "\n".join(
        f"def f{i}(n):\n    ### BEGIN SOLUTION\n    return n + {i}\n    ### END SOLUTION" for i in range(20))))
    picked = sample(mutants, 6, seed=1)
    assert picked == sample(mutants, 6, seed=1) and len(picked) == 6
    assert picked != sample(mutants, 6, seed=2)
    assert {"scale_factor", "swap_operands"} & {m.operator for m in picked}, "rare operators are not crowded out"
    assert sample(mutants, len(mutants) + 5, seed=1) == mutants
