"""From-scratch rules: did the student call the built-in they were asked to write themselves?

Checked in the trusted process on the notebook's source (never by asking the sandbox), with
the `ast` module: inside the functions and classes a rule names, and inside every function
of the student's they call, each dotted name is resolved through the notebook's imports
(`import torch.nn.functional as F`, `from torch import nn`, `from torch.nn.functional import
conv2d as c`, `F = torch.nn.functional`) and compared with the rule's canonical names.
`getattr(F, "conv2d")` with a literal name is resolved too. A determined student can still
hide a call (through `eval`, say); the hidden tests' numbers do not depend on this check,
it only applies the rubric's deduction and tells the student why.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterable, Iterator

from grader.course.rubric import ScratchRule
from grader.models import Outcome


@dataclass(frozen=True)
class Use:
    name: str  # canonical dotted name found
    where: str  # the student's function or class it was found in
    cell: int  # 1-based among code cells
    line: int


def check_rule(rule: ScratchRule, code_cells: Iterable[str],
               judged_elsewhere: Iterable[str] = ()) -> tuple[Outcome, str]:
    """(outcome, message) for one rule: passed, or failed with the first forbidden use.
    Functions in `judged_elsewhere` (another rule's subject) are not followed into, so
    one built-in costs points once."""
    uses = find_uses(rule, list(code_cells), set(judged_elsewhere))
    if not uses:
        return Outcome.PASSED, ""
    use = uses[0]
    return Outcome.FAILED, (f"{rule.why}: `{use.name}` is used in {use.where} (code cell {use.cell}, line {use.line}); "
                            f"the rubric takes off up to {rule.points:g} point(s) of this part for it")


def find_uses(rule: ScratchRule, code_cells: list[str], judged_elsewhere: set[str] = frozenset()) -> list[Use]:
    trees = [(number, _parse(source)) for number, source in enumerate(code_cells, 1)]
    trees = [(number, tree) for number, tree in trees if tree is not None]
    aliases: dict[str, str] = {}
    definitions: dict[str, tuple[int, ast.AST]] = {}
    for number, tree in trees:
        for node in ast.walk(tree):
            _collect_alias(node, aliases)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                definitions.setdefault(node.name, (number, node))
    forbidden = set(rule.forbid)
    queue = [name for name in rule.within if name in definitions]
    seen: set[str] = set()
    uses = []
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        cell, definition = definitions[name]
        for node, dotted in _dotted_names(definition):
            canonical = _canonical(dotted, aliases)
            if canonical in forbidden or any(canonical.startswith(f + ".") for f in forbidden):
                uses.append(Use(canonical, name, cell, getattr(node, "lineno", 0)))
            elif dotted in definitions and dotted not in seen and dotted not in judged_elsewhere:
                queue.append(dotted)  # a helper of the student's: the rule follows the call
    return uses


def _parse(source: str) -> ast.Module | None:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _collect_alias(node: ast.AST, aliases: dict[str, str]) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                aliases[alias.asname] = alias.name
            else:
                head = alias.name.split(".")[0]
                aliases.setdefault(head, head)
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        for alias in node.names:
            aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        dotted = _dotted(node.value)
        if dotted and dotted.split(".")[0] in aliases:
            aliases[node.targets[0].id] = _canonical(dotted, aliases)


def _dotted_names(definition: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every outermost dotted name (a.b.c, not also a.b) and literal getattr in a definition."""
    inner: set[int] = set()
    for node in ast.walk(definition):
        if isinstance(node, ast.Attribute):
            inner.add(id(node.value))
    for node in ast.walk(definition):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str):
            base = _dotted(node.args[0])
            if base:
                yield node, f"{base}.{node.args[1].value}"
        if isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in inner:
            dotted = _dotted(node)
            if dotted:
                yield node, dotted


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _canonical(dotted: str, aliases: dict[str, str]) -> str:
    head, _, rest = dotted.partition(".")
    base = aliases.get(head, head)
    return f"{base}.{rest}" if rest else base


def rule_outcomes(rules: Iterable[ScratchRule], notebook) -> dict[str, tuple[Outcome, str, float]]:  # type: ignore[no-untyped-def]
    """Outcomes of every rule on a notebook, in the shape Rubric.score takes."""
    cells = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    rules = list(rules)
    outcomes = {}
    for rule in rules:
        elsewhere = {name for other in rules if other is not rule for name in other.within} - set(rule.within)
        outcomes[rule.rule] = (*check_rule(rule, cells, elsewhere), 0.0)
    return outcomes
