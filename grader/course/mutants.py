"""mutants.yaml: the mistakes each hidden suite must catch, and the correct variants it must accept.

The file sits beside the reference notebook (reference/<assignment>/mutants.yaml): it is the
course's data, read by `grade validate` and by tests/integration/test_validity.py, and never
released (grade release picks its files one by one). Each entry edits the reference notebook:
its `find` occurs exactly once among the code cells and becomes `replace`. A mutant must fail
exactly the tests (or from-scratch rules) in `fails` and lose exactly their points; an
alternative (a correct solution written differently) must get full marks.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

from grader.errors import InstructorError, course_file

MUTANTS_FILE = "mutants.yaml"
MAGIC = re.compile(r"^([ \t]*)[%!]", re.MULTILINE)  # IPython magics and shell lines: not Python


@dataclass(frozen=True)
class Edit:
    """One entry: a mutant (with the tests it must fail) or a correct alternative (fails = ())."""

    name: str
    find: str
    replace: str
    why: str = ""
    fails: tuple[str, ...] = ()


@dataclass(frozen=True)
class MutantSpec:
    path: Path
    mutants: tuple[Edit, ...]
    alternatives: tuple[Edit, ...]

    @property
    def entries(self) -> tuple[Edit, ...]:
        return self.mutants + self.alternatives


def mutants_path(assignment_root: Path) -> Path:
    """Where an assignment's mutants.yaml lives: reference/<assignment>/mutants.yaml."""
    return assignment_root / MUTANTS_FILE


def load_mutants(path: Path) -> MutantSpec:
    """Read a mutants.yaml; raise InstructorError naming the file and the fix."""
    where = course_file(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise InstructorError(f"{where} cannot be read: {error}") from None
    data = data or {}
    if not isinstance(data, dict):
        raise InstructorError(f"{where} must be a mapping with `mutants:` and `alternatives:` lists")
    seen: set[str] = set()
    mutants = tuple(_edit(entry, where, seen, mutant=True) for entry in _list(data, "mutants", where))
    alternatives = tuple(_edit(entry, where, seen, mutant=False) for entry in _list(data, "alternatives", where))
    return MutantSpec(path=path, mutants=mutants, alternatives=alternatives)


def _list(data: dict[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise InstructorError(f"{where}: `{key}:` must be a list of entries (name, find, replace)")
    return value


def _edit(entry: Any, where: str, seen: set[str], *, mutant: bool) -> Edit:
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("name", "find", "replace")):
        raise InstructorError(f"{where}: every entry needs `name:`, `find:` and `replace:` strings, not {entry!r}")
    name = entry["name"]
    if name in seen:
        raise InstructorError(f"{where}: the name {name} is used twice; give each entry its own")
    seen.add(name)
    fails = entry.get("fails") or []
    if mutant and (not isinstance(fails, list) or not fails or not all(isinstance(t, str) for t in fails)):
        raise InstructorError(f"{where}: mutant {name} needs `fails:`, the list of tests it must fail")
    if not mutant and fails:
        raise InstructorError(f"{where}: alternative {name} has `fails:`; an alternative is correct and fails "
                              "nothing (move it under `mutants:` if it is a mistake)")
    return Edit(name=name, find=entry["find"], replace=entry["replace"], why=str(entry.get("why") or ""),
                fails=tuple(fails))


def apply_edit(notebook: nbformat.NotebookNode, edit: Edit, where: str) -> nbformat.NotebookNode:
    """A copy of `notebook` with the entry's edit made; InstructorError unless `find` occurs exactly once."""
    edited = copy.deepcopy(notebook)
    hits = [cell for cell in edited.cells if cell.cell_type == "code" and edit.find in cell.source]
    count = sum(cell.source.count(edit.find) for cell in hits)
    if count != 1:
        found = "does not occur in" if count == 0 else f"occurs {count} times among"
        raise InstructorError(f"{where}: the `find` of {edit.name} {found} the reference's code cells; "
                              "quote one unique snippet of the reference")
    hits[0].source = hits[0].source.replace(edit.find, edit.replace)
    return edited


def edit_scope(notebook: nbformat.NotebookNode, edit: Edit) -> str:
    """The top-level function or class of the notebook's code cells in which the entry's `find`
    begins ("" outside any, or when `find` is not unique or its cell does not parse): the name a
    rubric part's `main:` uses, as `grade audit` records a mutant's scope."""
    hits = [cell.source for cell in notebook.cells if cell.cell_type == "code" and edit.find in cell.source]
    if len(hits) != 1 or hits[0].count(edit.find) != 1:
        return ""
    source = hits[0]
    line = source[:source.index(edit.find)].count("\n") + 1
    try:
        tree = ast.parse(MAGIC.sub(lambda m: m.group(1) + "#", source))
    except SyntaxError:
        return ""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node.lineno <= line <= (node.end_lineno or node.lineno):
            return node.name
    return ""


def defined_names(notebook: nbformat.NotebookNode) -> set[str]:
    """The functions and classes the notebook's code cells define at their top level."""
    names: set[str] = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(MAGIC.sub(lambda m: m.group(1) + "#", cell.source))
        except SyntaxError:
            continue
        names |= {node.name for node in tree.body
                  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return names
