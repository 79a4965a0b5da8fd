"""Mutants of a reference notebook: every operator applied to every node of its solution regions.

Only code between `### BEGIN SOLUTION` and `### END SOLUTION` is mutated: that is what a
student writes, so that is where their mistakes are (the cells around it, the demo and the
imports, stay as the reference has them). A mutant is one edit of one node; mutants whose
cell no longer compiles, or that give the same source as another, are left out.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import random
import re
from collections import defaultdict
from dataclasses import dataclass

import nbformat

from grader.audit.operators import OPERATORS
from grader.audit.syntax import Change, Code, Operator
from grader.errors import GradeError
from grader.students.strip import BEGIN, END

MAGIC = re.compile(r"^([ \t]*)[%!]")


@dataclass(frozen=True)
class Mutant:
    """One edit of the reference notebook."""

    id: str  # stable across runs: the hash of the edited cell
    cell_index: int  # in notebook.cells
    cell: int  # 1-based among code cells, as grading messages number them
    line: int  # 1-based in the cell
    end_line: int  # the last line of the mutated node
    operator: str
    description: str
    scope: str  # the top-level function or class the edit is in ("" at cell level)
    original: str  # the cell's source in the reference
    source: str  # the cell's source in the mutant

    def diff(self) -> str:
        return "\n".join(difflib.unified_diff(self.original.splitlines(), self.source.splitlines(),
                                              f"reference code cell {self.cell}", f"mutant code cell {self.cell}",
                                              n=1, lineterm=""))

    def notebook(self, reference: nbformat.NotebookNode) -> nbformat.NotebookNode:
        mutated = nbformat.reads(nbformat.writes(reference), as_version=4)
        mutated.cells[self.cell_index].source = self.source
        return mutated


def solution_regions(source: str) -> list[tuple[int, int]]:
    """(BEGIN line, END line) of each marked region, 1-based; a marker without its partner raises."""
    regions, start = [], None
    for number, line in enumerate(source.splitlines(), 1):
        if BEGIN.match(line):
            start = number
        elif END.match(line):
            if start is None:
                raise GradeError(f"line {number}: END SOLUTION without BEGIN SOLUTION")
            regions.append((start, number))
            start = None
    if start is not None:
        raise GradeError(f"line {start}: BEGIN SOLUTION without END SOLUTION")
    return regions


def parseable(source: str) -> str:
    """The source with IPython magics and shell lines commented out, line numbers and columns kept."""
    return "\n".join(MAGIC.sub(lambda m: m.group(1) + "#", line) for line in source.split("\n"))


def mutate_source(source: str, operators: tuple[Operator, ...] = OPERATORS, *, uses_torch: bool = True,
                  regions: list[tuple[int, int]] | None = None) -> list[tuple[Operator, Change, str]]:
    """Every (operator, change, new source) for the nodes inside `regions` (default: the solution regions)."""
    regions = solution_regions(source) if regions is None else regions
    if not regions:
        return []
    try:
        tree = ast.parse(parseable(source))
    except SyntaxError:
        return []
    code = Code(source, tree, uses_torch=uses_torch)
    found, seen = [], {source}
    for node in ast.walk(tree):
        start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if start is None or end is None or not any(b < start and end < e for b, e in regions):
            continue
        for operator in operators:
            for change in operator.mutate(node, code):
                new = splice(source, change)
                if new in seen or not compiles(new):
                    continue
                seen.add(new)
                found.append((operator, change, new))
    return found


def splice(source: str, change: Change) -> str:
    """`source` with the node's span (line and UTF-8 byte column positions) replaced by the change's text."""
    data = source.encode()
    starts = [0]
    for line in source.encode().split(b"\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    node = change.node
    begin = starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
    end = starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
    return (data[:begin] + change.text.encode() + data[end:]).decode()


def compiles(source: str) -> bool:
    try:
        compile(parseable(source), "<mutant>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def scope_of(tree: ast.Module, line: int) -> str:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node.lineno <= line <= (node.end_lineno or node.lineno):
            return node.name
    return ""


def generate_mutants(notebook: nbformat.NotebookNode, operators: tuple[Operator, ...] = OPERATORS) -> list[Mutant]:
    """Every mutant of the notebook's solution regions, in cell and line order."""
    uses_torch = any("torch" in cell.source for cell in notebook.cells if cell.cell_type == "code")
    mutants: list[Mutant] = []
    code_number = 0
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        code_number += 1
        try:
            found = mutate_source(cell.source, operators, uses_torch=uses_torch)
        except GradeError as error:
            raise GradeError(f"code cell {code_number}: {error}") from None
        if not found:
            continue
        tree = ast.parse(parseable(cell.source))
        for operator, change, new in found:
            line = change.node.lineno  # type: ignore[attr-defined]
            digest = hashlib.sha256(f"{index}\0{new}".encode()).hexdigest()
            mutants.append(Mutant(id=f"m{digest[:12]}", cell_index=index, cell=code_number, line=line,
                                  end_line=change.node.end_lineno or line,  # type: ignore[attr-defined]
                                  operator=operator.name, description=change.description,
                                  scope=scope_of(tree, line), original=cell.source, source=new))
    return sorted(mutants, key=lambda m: (m.cell_index, m.line, m.operator, m.id))


def sample(mutants: list[Mutant], limit: int, seed: int) -> list[Mutant]:
    """At most `limit` mutants, drawn with `seed` in turns across operators, so that a rare
    operator (a softmax dim) is not crowded out by a common one (constants)."""
    if len(mutants) <= limit:
        return list(mutants)
    rng = random.Random(seed)
    by_operator: dict[str, list[Mutant]] = defaultdict(list)
    for mutant in mutants:
        by_operator[mutant.operator].append(mutant)
    queues = []
    for name in sorted(by_operator):
        group = list(by_operator[name])
        rng.shuffle(group)
        queues.append(group)
    rng.shuffle(queues)
    chosen: list[Mutant] = []
    while len(chosen) < limit:
        for group in queues:
            if group and len(chosen) < limit:
                chosen.append(group.pop())
    return sorted(chosen, key=lambda m: (m.cell_index, m.line, m.operator, m.id))
