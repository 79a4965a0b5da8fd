"""Mutation operators: the mistakes students make in deep-learning code, as edits of one AST node.

Each operator looks at one node of a cell's syntax tree and proposes replacements for that
node's source text: `Change(node, text, description)`. The text is built from the original
source segments of the node's parts (comments, quotes and spacing elsewhere in the cell
stay as they were), so a mutant's diff is the one edit a student would have made.

Domain operators (the field's mistakes) come first: a softmax or reduction over the wrong
dim, a dropped or wrong scale factor, a dropped transpose, swapped operands, an inverted
mask, an off-by-one slice or diagonal, a missing bias or residual, a detach, mean for sum,
a wrong sign. Then the generic ones of mutation testing: arithmetic and comparison
operator swaps, constants off by one, boolean swaps, a dropped call statement.
"""

from __future__ import annotations

import ast
from typing import Iterator

from grader.audit.syntax import (
    ARITHMETIC, ATOM, BINARY_PRECEDENCE, COMPARISONS, LAYERS_WITH_BIAS, REDUCTIONS, SOFTMAXES, SYMBOL, TRANSPOSES,
    Change, Code, Operator,
    call_name, dim_argument, int_constant, is_bias, is_module_call, leaf_name, names_in, other_dim,
    precedence, rebuild_call, with_dim,
)


def _wrong_dim(node: ast.Call, code: Code) -> Iterator[Change]:
    """The call with its literal dim (keyword, or the tensor's positional slot) moved to another dim."""
    position = 1 if is_module_call(node) else 0
    _, _, dim = dim_argument(node, position)
    if dim is not None:
        text = with_dim(node, code, position, other_dim(dim))
        if text:
            yield Change(node, text, f"{call_name(node)} over dim {other_dim(dim)} instead of {dim}")


def softmax_dim(node: ast.AST, code: Code) -> Iterator[Change]:
    if call_name(node) in SOFTMAXES and isinstance(node, ast.Call):
        yield from _wrong_dim(node, code)


def reduction_dim(node: ast.AST, code: Code) -> Iterator[Change]:
    if call_name(node) in REDUCTIONS and isinstance(node, ast.Call):
        yield from _wrong_dim(node, code)
        kept = [(k.arg, code.segment(k.value)) for k in node.keywords if k.arg != "keepdim"]
        if len(kept) < len(node.keywords):
            yield Change(node, rebuild_call(node, code, keywords=kept), f"{call_name(node)} without keepdim")


def _is_scale(node: ast.AST) -> bool:
    if call_name(node) in ("sqrt", "rsqrt", "isqrt"):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and isinstance(node.right, (ast.Constant, ast.UnaryOp)):
        return True
    return "scale" in leaf_name(node).lower() or "temperature" in leaf_name(node).lower()


def scale_factor(node: ast.AST, code: Code) -> Iterator[Change]:
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Mult))):
        return
    if _is_scale(node.right):
        yield Change(node, code.operand(node.left, precedence(node)), f"scale factor {code.segment(node.right)} dropped")
        if call_name(node.right) == "sqrt" and isinstance(node.right, ast.Call) and len(node.right.args) == 1:
            op = SYMBOL[type(node.op)]
            inner = node.right.args[0]
            yield Change(node, f"{code.operand(node.left, precedence(node))} {op} {code.operand(inner, ATOM)}",
                         f"scaled by {code.segment(inner)} instead of its square root")
    if isinstance(node.op, ast.Mult) and _is_scale(node.left):
        yield Change(node, code.operand(node.right, precedence(node) + 1),
                     f"scale factor {code.segment(node.left)} dropped")


def transpose(node: ast.AST, code: Code) -> Iterator[Change]:
    if isinstance(node, ast.Attribute) and node.attr in ("T", "mT", "H", "mH"):
        yield Change(node, code.operand(node.value, ATOM), f".{node.attr} dropped")
    elif call_name(node) in TRANSPOSES and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if is_module_call(node):  # torch.transpose(x, 0, 1)
            if node.args:
                yield Change(node, code.operand(node.args[0], ATOM), f"{call_name(node)} dropped")
        else:
            yield Change(node, code.operand(node.func.value, ATOM), f".{call_name(node)}(...) dropped")


def swap_operands(node: ast.AST, code: Code) -> Iterator[Change]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.MatMult, ast.Sub, ast.Div)):
        prec = precedence(node)
        yield Change(node, f"{code.operand(node.right, prec)} {SYMBOL[type(node.op)]} {code.operand(node.left, prec + 1)}",
                     f"operands of {SYMBOL[type(node.op)]} swapped")
    elif call_name(node) in ("matmul", "bmm", "mm") and isinstance(node, ast.Call) and is_module_call(node) \
            and len(node.args) == 2 and not node.keywords:
        a, b = (code.segment(arg) for arg in node.args)
        yield Change(node, rebuild_call(node, code, args=[b, a]), f"operands of {call_name(node)} swapped")


def mask_inversion(node: ast.AST, code: Code) -> Iterator[Change]:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert) and not isinstance(node.operand, ast.Constant):
        yield Change(node, code.operand(node.operand, ATOM), "mask inverted (~ dropped)")
    name = call_name(node)
    if not isinstance(node, ast.Call):
        return
    if name in ("masked_fill", "masked_fill_") and node.args and not is_module_call(node):
        mask = node.args[0]
        if not (isinstance(mask, ast.UnaryOp) and isinstance(mask.op, ast.Invert)):
            args = [f"~{code.operand(mask, 13)}"] + [code.segment(a) for a in node.args[1:]]
            yield Change(node, rebuild_call(node, code, args=args), "mask inverted (~ added)")
    if name in ("tril", "triu", "tril_", "triu_"):
        swapped = name.replace("tril", "TMP").replace("triu", "tril").replace("TMP", "triu")
        func = code.segment(node.func)
        func = func[: len(func) - len(name)] + swapped
        yield Change(node, rebuild_call(node, code, func=func), f"{swapped} instead of {name}")
    if name == "where" and is_module_call(node) and len(node.args) == 3:
        c, a, b = (code.segment(arg) for arg in node.args)
        yield Change(node, rebuild_call(node, code, args=[c, b, a]), "where's branches swapped")


def _shifted(node: ast.AST, code: Code, delta: int) -> str:
    value = int_constant(node)
    if value is not None:
        return str(value + delta)
    return f"{code.operand(node, 12)} {'+' if delta > 0 else '-'} {abs(delta)}"


def off_by_one(node: ast.AST, code: Code) -> Iterator[Change]:
    if isinstance(node, ast.Slice):
        for field in ("lower", "upper"):
            bound = getattr(node, field)
            if bound is None:
                continue
            for delta in (1, -1):
                parts = {f: code.segment(getattr(node, f)) if getattr(node, f) is not None else ""
                         for f in ("lower", "upper", "step")}
                parts[field] = _shifted(bound, code, delta)
                text = f"{parts['lower']}:{parts['upper']}" + (f":{parts['step']}" if node.step is not None else "")
                yield Change(node, text, f"slice {field} bound off by {delta:+d}")
    elif call_name(node) in ("tril", "triu", "tril_", "triu_") and isinstance(node, ast.Call):
        position = 1 if is_module_call(node) else 0
        diagonal = next((k.value for k in node.keywords if k.arg == "diagonal"), None)
        if diagonal is None and len(node.args) > position:
            diagonal = node.args[position]
        for delta in (1, -1):
            if diagonal is None:
                keywords = [(k.arg, code.segment(k.value)) for k in node.keywords] + [("diagonal", str(delta))]
                yield Change(node, rebuild_call(node, code, keywords=keywords), f"diagonal {delta} instead of 0")
            else:
                args = [_shifted(a, code, delta) if a is diagonal else code.segment(a) for a in node.args]
                keywords = [(k.arg, _shifted(k.value, code, delta) if k.value is diagonal else code.segment(k.value))
                            for k in node.keywords]
                yield Change(node, rebuild_call(node, code, args=args, keywords=keywords), f"diagonal off by {delta:+d}")
    elif call_name(node) == "range" and isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and 1 <= len(node.args) <= 2:
        stop = node.args[-1]
        for delta in (1, -1):
            args = [code.segment(a) for a in node.args[:-1]] + [_shifted(stop, code, delta)]
            yield Change(node, rebuild_call(node, code, args=args), f"range end off by {delta:+d}")


def missing_bias(node: ast.AST, code: Code) -> Iterator[Change]:
    if call_name(node) in LAYERS_WITH_BIAS and isinstance(node, ast.Call) \
            and not any(k.arg == "bias" for k in node.keywords) and len(node.args) <= 2:
        keywords = [(k.arg, code.segment(k.value)) for k in node.keywords] + [("bias", "False")]
        yield Change(node, rebuild_call(node, code, keywords=keywords), f"{call_name(node)} without bias")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        if is_bias(node.right):
            yield Change(node, code.operand(node.left, precedence(node)), f"bias {code.segment(node.right)} dropped")
        elif is_bias(node.left):
            yield Change(node, code.operand(node.right, precedence(node) + 1), f"bias {code.segment(node.left)} dropped")


def missing_residual(node: ast.AST, code: Code) -> Iterator[Change]:
    """`x + f(x)` -> `f(x)`: the skip connection forgotten."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        for kept, dropped in ((node.right, node.left), (node.left, node.right)):
            if isinstance(dropped, (ast.Name, ast.Attribute)) and not isinstance(kept, (ast.Name, ast.Constant)) \
                    and leaf_name(dropped) in names_in(kept) | {leaf_name(n) for n in ast.walk(kept)
                                                                if isinstance(n, ast.Attribute)} \
                    and not is_bias(dropped):
                yield Change(node, code.operand(kept, precedence(node) + (kept is node.right)),
                             f"residual {code.segment(dropped)} + ... dropped")
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name) \
            and not isinstance(node.value, (ast.Constant, ast.Name)):
        yield Change(node, f"{code.segment(node.target)} = {code.segment(node.value)}",
                     f"residual dropped ({code.segment(node.target)} += ... became =)")


def detach(node: ast.AST, code: Code) -> Iterator[Change]:
    """A computed value cut from the autograd graph (`.detach()`; torch code only)."""
    if not code.uses_torch:
        return
    if isinstance(node, (ast.Assign, ast.Return)) and isinstance(node.value, (ast.Call, ast.BinOp)):
        value = node.value
        if call_name(value) in ("detach", "item", "tolist", "size", "dim", "numel") or isinstance(value, ast.Call) \
                and call_name(value) and call_name(value)[0].isupper():
            return  # already detached, not a tensor, or a constructor (a layer, a tensor class)
        detached = f"{code.operand(value, ATOM)}.detach()"
        if isinstance(node, ast.Return):
            yield Change(node, f"return {detached}", "returned value detached from the autograd graph")
        else:
            targets = " = ".join(code.segment(t) for t in node.targets)
            yield Change(node, f"{targets} = {detached}", f"{targets} detached from the autograd graph")


def mean_sum(node: ast.AST, code: Code) -> Iterator[Change]:
    name = call_name(node)
    if name in ("mean", "sum", "nanmean", "nansum") and isinstance(node, ast.Call):
        swapped = {"mean": "sum", "sum": "mean", "nanmean": "nansum", "nansum": "nanmean"}[name]
        func = code.segment(node.func)
        yield Change(node, rebuild_call(node, code, func=func[: len(func) - len(name)] + swapped),
                     f"{swapped} instead of {name}")
    if isinstance(node, ast.Constant) and node.value in ("mean", "sum"):
        swapped = "sum" if node.value == "mean" else "mean"
        yield Change(node, repr(swapped), f"reduction {swapped!r} instead of {node.value!r}")


def sign(node: ast.AST, code: Code) -> Iterator[Change]:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield Change(node, code.operand(node.operand, 13), f"sign of {code.segment(node.operand)} flipped")
    if isinstance(node, ast.Constant) and node.value in ("-inf", "inf"):
        yield Change(node, repr("inf" if node.value == "-inf" else "-inf"), f"{node.value!r} with the wrong sign")
    if isinstance(node, ast.Return) and node.value is not None and call_name(node.value) in ("log", "log_softmax") \
            and code.uses_torch:
        yield Change(node, f"return -{code.operand(node.value, 13)}", "returned log value negated")


# -- generic operators -----------------------------------------------------------------

def arithmetic(node: ast.AST, code: Code) -> Iterator[Change]:
    if isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
        new = ARITHMETIC[type(node.op)]
        prec = BINARY_PRECEDENCE[new]
        yield Change(node, f"{code.operand(node.left, prec + (new is ast.Pow))} {SYMBOL[new]} "
                           f"{code.operand(node.right, prec + (new is not ast.Pow))}",
                     f"{SYMBOL[type(node.op)]} became {SYMBOL[new]}")
    if isinstance(node, ast.AugAssign) and type(node.op) in ARITHMETIC:
        new = ARITHMETIC[type(node.op)]
        yield Change(node, f"{code.segment(node.target)} {SYMBOL[new]}= {code.segment(node.value)}",
                     f"{SYMBOL[type(node.op)]}= became {SYMBOL[new]}=")


def comparison(node: ast.AST, code: Code) -> Iterator[Change]:
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARISONS:
        new = COMPARISONS[type(node.ops[0])]
        yield Change(node, f"{code.operand(node.left, 7)} {SYMBOL[new]} {code.operand(node.comparators[0], 7)}",
                     f"{SYMBOL[type(node.ops[0])]} became {SYMBOL[new]}")


def constant(node: ast.AST, code: Code) -> Iterator[Change]:
    if not isinstance(node, ast.Constant):
        return
    value = node.value
    if type(value) is bool:
        yield Change(node, str(not value), f"{value} became {not value}")
    elif type(value) is int:
        for new in (value + 1, value - 1):
            yield Change(node, str(new) if new >= 0 else f"({new})", f"constant {value} became {new}")
    elif type(value) is float and value != 0:
        yield Change(node, repr(value * 10), f"constant {value!r} became {value * 10!r}")


def boolean(node: ast.AST, code: Code) -> Iterator[Change]:
    if isinstance(node, ast.BoolOp):
        new = " or " if isinstance(node.op, ast.And) else " and "
        prec = 3 if new == " or " else 4
        yield Change(node, new.join(code.operand(v, prec + 1) for v in node.values), f"{new.strip()} instead of "
                                                                                      f"{'and' if prec == 3 else 'or'}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield Change(node, code.operand(node.operand, 5), "not dropped")


def statement(node: ast.AST, code: Code) -> Iterator[Change]:
    """A call statement left out: `optimizer.zero_grad()`, `loss.backward()`, an in-place update."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield Change(node, "pass", f"{code.segment(node.value.func)}(...) left out")


OPERATORS: tuple[Operator, ...] = (
    Operator("softmax_dim", "softmax / log_softmax over the wrong dim", softmax_dim),
    Operator("reduction_dim", "a reduction over the wrong dim, or keepdim dropped", reduction_dim),
    Operator("scale_factor", "a scale factor dropped, or d instead of sqrt(d)", scale_factor),
    Operator("transpose", "a transpose or permute dropped", transpose),
    Operator("swap_operands", "operands of @, -, / or matmul swapped", swap_operands),
    Operator("mask_inversion", "a mask inverted: ~ dropped or added, tril for triu, where's branches swapped",
             mask_inversion),
    Operator("off_by_one", "a slice bound, a tril/triu diagonal or a range end off by one", off_by_one),
    Operator("missing_bias", "a layer without bias, or a bias term dropped", missing_bias),
    Operator("missing_residual", "a residual connection dropped (x + f(x) -> f(x))", missing_residual),
    Operator("detach", "a computed tensor detached from the autograd graph", detach),
    Operator("mean_sum", "mean instead of sum, or sum instead of mean", mean_sum),
    Operator("sign", "a wrong sign: a minus dropped, -inf for inf, a log value negated", sign),
    Operator("arithmetic", "an arithmetic operator swapped (+ -, * /, @ *, ** *)", arithmetic, domain=False),
    Operator("comparison", "a comparison swapped (< <=, == !=, is / is not)", comparison, domain=False),
    Operator("constant", "a constant off by one, a float times 10, True for False", constant, domain=False),
    Operator("boolean", "and for or, not dropped", boolean, domain=False),
    Operator("statement", "a call statement left out", statement, domain=False),
)
BY_NAME = {operator.name: operator for operator in OPERATORS}
