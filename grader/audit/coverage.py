"""Which tests exercise a function of the notebook: read from the test files' source, nothing run.

A test covers `name` when the name appears in its body (`student.name`, `"name"`, a bare
name) or in a module-level helper it calls, followed to any depth. Best effort: a test that
reaches the function through a string built at run time is missed.
"""

from __future__ import annotations

import ast
from pathlib import Path


def _mentions(node: ast.AST) -> set[str]:
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
        elif isinstance(child, ast.Constant) and isinstance(child.value, str) and child.value.isidentifier():
            found.add(child.value)
    return found


def covering_tests(test_files: list[Path], name: str) -> list[str]:
    """The test functions (by name, in file order) that mention `name` directly or through their helpers."""
    if not name:
        return []
    tests: list[tuple[str, set[str]]] = []
    for path in test_files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            continue
        helpers = {n.name: _mentions(n) for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        reaches: dict[str, bool] = {}

        def reaches_name(helper: str, seen: frozenset[str] = frozenset()) -> bool:
            if helper not in reaches:
                mentions = helpers[helper]
                reaches[helper] = name in mentions or any(
                    reaches_name(other, seen | {helper}) for other in mentions & helpers.keys() - seen - {helper})
            return reaches[helper]

        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                tests.append((node.name, {node.name} if reaches_name(node.name) else set()))
    return [test for test, hit in tests if hit]
