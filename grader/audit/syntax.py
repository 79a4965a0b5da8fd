"""The syntax the mutation operators work with: a cell's source and tree (`Code`), one proposed
edit (`Change`), an operator's record (`Operator`), and helpers that read calls, dims and constants.

Kept apart from operators.py so that file holds only the mistakes themselves.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Callable, Iterator

MODULES = {"torch", "F", "nn", "functional", "np", "numpy", "math", "scipy", "special", "jnp", "linalg"}
REDUCTIONS = {"sum", "mean", "max", "min", "argmax", "argmin", "norm", "prod", "logsumexp", "cumsum", "std",
              "var", "amax", "amin", "any", "all", "median", "count_nonzero"}
SOFTMAXES = {"softmax", "log_softmax"}
TRANSPOSES = {"transpose", "t", "permute", "swapaxes", "swapdims", "movedim"}
LAYERS_WITH_BIAS = {"Linear", "Conv1d", "Conv2d", "Conv3d", "Bilinear", "LazyLinear"}
ARITHMETIC = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
              ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.MatMult: ast.Mult}
COMPARISONS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
               ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
          ast.Pow: "**", ast.MatMult: "@", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
          ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
          ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^"}

# Python's operator precedence (higher binds tighter), to parenthesise a replacement only where needed.
BINARY_PRECEDENCE = {ast.Pow: 14, ast.Mult: 12, ast.Div: 12, ast.FloorDiv: 12, ast.Mod: 12, ast.MatMult: 12, ast.Add: 11,
           ast.Sub: 11, ast.LShift: 10, ast.RShift: 10, ast.BitAnd: 9, ast.BitXor: 8, ast.BitOr: 7}
ATOM = 16


def precedence(node: ast.AST) -> int:
    if isinstance(node, ast.BinOp):
        return BINARY_PRECEDENCE[type(node.op)]
    if isinstance(node, ast.UnaryOp):
        return 5 if isinstance(node.op, ast.Not) else 13
    if isinstance(node, ast.Compare):
        return 6
    if isinstance(node, ast.BoolOp):
        return 4 if isinstance(node.op, ast.And) else 3
    if isinstance(node, ast.IfExp):
        return 2
    if isinstance(node, (ast.Lambda, ast.NamedExpr)):
        return 1
    if isinstance(node, ast.Await):
        return 15
    return ATOM


@dataclass(frozen=True)
class Change:
    """Replace the source of `node` with `text`."""

    node: ast.AST
    text: str
    description: str


class Code:
    """One cell's source and tree, with the source segment of any node."""

    def __init__(self, source: str, tree: ast.AST, *, uses_torch: bool) -> None:
        self.source = source
        self.tree = tree
        self.uses_torch = uses_torch
        self.lines = source.splitlines(keepends=True)

    def segment(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.source, node)
        return text if text is not None else ast.unparse(node)

    def operand(self, node: ast.AST, at_least: int) -> str:
        """`node`'s source, parenthesised when it binds more loosely than `at_least`."""
        text = self.segment(node)
        return f"({text})" if precedence(node) < at_least else text


@dataclass(frozen=True)
class Operator:
    name: str
    description: str
    mutate: Callable[[ast.AST, Code], Iterator[Change]]
    domain: bool = True


# -- helpers ---------------------------------------------------------------------------

def call_name(node: ast.AST) -> str:
    """The called name of a call: `torch.softmax(...)`, `x.softmax(...)` and `softmax(...)` give "softmax"."""
    if not isinstance(node, ast.Call):
        return ""
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def is_module_call(node: ast.Call) -> bool:
    """`torch.sum(x, ...)` (the tensor is the first argument), not `x.sum(...)`."""
    func = node.func
    if isinstance(func, ast.Name):
        return True
    if isinstance(func, ast.Attribute):
        root = func.value
        while isinstance(root, ast.Attribute):
            if root.attr in MODULES:
                return True
            root = root.value
        return isinstance(root, ast.Name) and root.id in MODULES
    return False


def rebuild_call(node: ast.Call, code: Code, args: list[str] | None = None,
                 keywords: list[tuple[str | None, str]] | None = None, func: str | None = None) -> str:
    """A call's source with its arguments replaced (spacing normalised inside the parentheses)."""
    args = [code.segment(a) for a in node.args] if args is None else args
    if keywords is None:
        keywords = [(k.arg, code.segment(k.value)) for k in node.keywords]
    parts = args + [f"{name}={value}" if name else f"**{value}" for name, value in keywords]
    return f"{func or code.segment(node.func)}({', '.join(parts)})"


def int_constant(node: ast.AST | None) -> int | None:
    """The value of an int literal, `-1` included."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and type(node.operand.value) is int:
        return -node.operand.value
    return None


def other_dim(dim: int) -> int:
    return {-1: -2, -2: -1, 0: 1, 1: 0}.get(dim, dim - 1)


def dim_argument(node: ast.Call, position: int) -> tuple[str, int | None, int | None]:
    """Where a call's dim is: ("keyword", index, value) or ("positional", index, value); value None: no literal."""
    for index, keyword in enumerate(node.keywords):
        if keyword.arg in ("dim", "axis"):
            return "keyword", index, int_constant(keyword.value)
    if len(node.args) > position:
        return "positional", position, int_constant(node.args[position])
    return "none", None, None


def with_dim(node: ast.Call, code: Code, position: int, new: int) -> str | None:
    where, index, value = dim_argument(node, position)
    if value is None or index is None:
        return None
    if where == "keyword":
        keywords = [(k.arg, str(new) if i == index else code.segment(k.value)) for i, k in enumerate(node.keywords)]
        return rebuild_call(node, code, keywords=keywords)
    args = [str(new) if i == index else code.segment(a) for i, a in enumerate(node.args)]
    return rebuild_call(node, code, args=args)


def names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def leaf_name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def is_bias(node: ast.AST) -> bool:
    name = leaf_name(node).lower()
    return "bias" in name or name == "b" or name.startswith("b_")


# -- domain operators ------------------------------------------------------------------
