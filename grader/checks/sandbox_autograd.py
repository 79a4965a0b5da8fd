"""Backward passes through a student's code, run in their kernel by torch.autograd.functional.vjp.

Why not torch.func.vjp: its first backward pass in a process imports torch._dynamo (about
1.7 s on an idle 2-core CPU, measured with nn.LSTMCell), and every submission has a fresh
kernel, so every student paid it. torch.autograd.functional.vjp costs what autograd costs
(its first call with a cotangent imports sympy, about 0.4 s, once per kernel, which
notebooks 01, 02, 05 and 06 already paid). It differentiates a function of a flat tuple of
tensors only, so the adapter that rebuilds a parameter dict (for functional_call) or a state
tuple is a one-line lambda compiled in the student's kernel (`kernel_lambda`): it runs
there, on objects that stay there; only tensors come back, as with every bridge call.
"""

from __future__ import annotations

from typing import Any

import torch

from grader.kernel.bridge import StudentCodeError, lookup

# functional_call(module, {name: tensor}, inputs + args, kwargs) on the flat tensors vjp differentiates;
# `pick` selects one output (an index) when the module returns several and only one gets a cotangent.
FUNCTIONAL_CALL = (
    "lambda call, module, names, args, kwargs, pick, *flat: "
    "(lambda out: out if pick is None else out[pick])("
    "call(module, dict(zip(names, flat[:len(names)])), tuple(flat[len(names):]) + tuple(args), kwargs))"
)


def _tools(student: Any) -> tuple[Any, Any, Any]:
    """functools.partial, builtins.eval and torch.autograd.functional.vjp, reached through the student's `torch`."""
    try:  # one round trip, not eleven (a getattr each)
        partial, evaluate, vjp = lookup(student, "torch.nn.modules.module.functools.partial", "torch.builtins.eval",
                                        "torch.autograd.functional.vjp")
        return partial, evaluate, vjp
    except StudentCodeError as error:
        raise RuntimeError(f"grader self-check failed (functools.partial, eval or torch.autograd.functional not "
                           f"reachable in the sandbox: {error}); this is not your mistake: tell the course staff") \
            from None


def kernel_lambda(student: Any, source: str, *bound: Any) -> Any:
    """The lambda `source` compiled in the student's kernel, with its first arguments bound to `bound`."""
    partial, evaluate, _ = _tools(student)
    function = evaluate(source, {})
    return partial(function, *bound) if bound else function


def sandbox_vjp(student: Any, function: Any, inputs: tuple[torch.Tensor, ...], cotangent: Any) -> tuple[Any, Any]:
    """(outputs, gradients w.r.t. each input) of the kernel's `function`, by torch.autograd.functional.vjp there."""
    _, _, vjp = _tools(student)
    return vjp(function, tuple(inputs), cotangent)


def functional_vjp(student: Any, module: Any, params: dict[str, torch.Tensor], inputs: tuple[torch.Tensor, ...],
                   cotangent: Any, *, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
                   pick: int | None = None) -> tuple[Any, tuple[Any, tuple[Any, ...]]]:
    """(output, (gradients w.r.t. params as a dict, gradients w.r.t. inputs as a tuple)) of
    torch.func.functional_call(module, params, inputs + args, kwargs) in the student's kernel, as
    torch.func.vjp(...)'s pullback would give them; `args` are passed along, not differentiated."""
    names = list(params)
    (functional_call,) = lookup(student, "torch.func.functional_call")
    adapter = kernel_lambda(student, FUNCTIONAL_CALL, functional_call, module, names,
                            tuple(args), kwargs, pick)
    output, grads = sandbox_vjp(student, adapter, (*params.values(), *inputs), cotangent)
    if not isinstance(grads, (tuple, list)) or len(grads) != len(names) + len(inputs):
        grads = (grads,) if isinstance(grads, torch.Tensor) else tuple(grads or ())
        return output, ({}, grads)
    return output, (dict(zip(names, grads[:len(names)])), tuple(grads[len(names):]))
