"""Import cycles in grader/, read from the source (nothing is imported); exit 1 on a cycle.

    .venv/bin/python scripts/import_cycles.py [PACKAGE_DIR] [--packages]

Every import statement counts, wherever it is: module level, inside a function (a lazy
import only delays the cycle to the first call), under `if TYPE_CHECKING:` (type checkers
and `typing.get_type_hints` still follow it). Relative imports are resolved.
`from grader.x import y` is an edge to grader.x.y when that is a module, else to grader.x;
importing grader.a.b also runs grader/a/__init__.py, so it is an edge to grader.a as well,
except when grader.a is a package the importing module lives in (Python initialises it first).

Prints each cycle (a strongly connected component) with the lines that close it, then a
count. --packages also prints the graph between the top-level parts of the package
(subpackages and top-level modules): one line per part, `part -> what it imports`, and the
groups of parts in one loop; with --packages such a loop fails too, so the parts stay layered
(the README's map says which part may import which).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PACKAGE = Path(__file__).resolve().parent.parent / "grader"


@dataclass(frozen=True)
class Where:
    """The first statement that makes one module import another."""

    path: Path
    line: int


def find_modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every .py file under the package folder `root`."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> list[tuple[str, int]]:
    """(absolute dotted name, line) for every import in the file, a module or a module's attribute."""
    is_package = path.name == "__init__.py"
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names += [(f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
            names.append((base, node.lineno))
    return names


def import_graph(root: Path) -> tuple[dict[str, Path], dict[str, dict[str, Where]]]:
    """The modules, and for each the modules it imports (with the first place it does)."""
    modules = find_modules(root)
    package = root.name
    edges: dict[str, dict[str, Where]] = {module: {} for module in modules}
    for module, path in modules.items():
        for name, line in imported_names(module, path):
            if name != package and not name.startswith(package + "."):
                continue
            target = name
            while target and target not in modules:  # an attribute (a function, a class): its module
                target = target.rpartition(".")[0]
            if not target:
                continue
            explicit = target
            for target in _with_parents(explicit):
                own_parent = module.startswith(target + ".")
                if target == module or (own_parent and target != explicit):
                    continue
                edges[module].setdefault(target, Where(path, line))
    return modules, edges


def _with_parents(name: str) -> list[str]:
    """grader.a.b -> [grader.a.b, grader.a, grader]: importing a module runs its packages first."""
    parts = name.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def strongly_connected(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components of one module are left out (a module importing itself is no cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(edges[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * len(edges) + 100))
    for module in sorted(edges):
        if module not in index:
            visit(module)
    return sorted(components)


def part_of(module: str) -> str:
    """The top-level part a module belongs to: grader.store.schema -> store; grader.cli -> cli."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def package_graph(edges: dict[str, dict[str, Where]]) -> dict[str, set[str]]:
    """Part -> the other parts it imports."""
    parts: dict[str, set[str]] = {}
    for module, targets in edges.items():
        source = part_of(module)
        parts.setdefault(source, set())
        parts[source] |= {part_of(target) for target in targets} - {source}
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", nargs="?", type=Path, default=DEFAULT_PACKAGE,
                        help="the package folder (default: grader/ beside this script)")
    parser.add_argument("--packages", action="store_true",
                        help="also print the graph between the package's top-level parts")
    args = parser.parse_args(argv)
    root = args.package_dir.resolve()
    if not (root / "__init__.py").is_file():
        parser.error(f"{root} is not a package: it has no __init__.py")

    modules, edges = import_graph(root)
    cycles = strongly_connected(edges)
    for members in cycles:
        print(f"cycle: {' <-> '.join(members)}")
        for module in members:
            for target, where in sorted(edges[module].items()):
                if target in members:
                    print(f"  {module} -> {target}  ({where.path.relative_to(root.parent)}:{where.line})")
    part_loops: list[list[str]] = []
    if args.packages:
        parts = package_graph(edges)
        width = max(map(len, parts))
        for part in sorted(parts):
            print(f"{part:<{width}} -> {', '.join(sorted(parts[part])) or '(nothing)'}")
        part_loops = strongly_connected(parts)
        for members in part_loops:
            print(f"parts in one import loop (through different modules): {', '.join(members)}")
    count = sum(map(len, edges.values()))
    print(f"{len(modules)} modules, {count} imports, {len(cycles)} cycle{'s' if len(cycles) != 1 else ''}")
    return 1 if cycles or part_loops else 0


if __name__ == "__main__":
    sys.exit(main())
