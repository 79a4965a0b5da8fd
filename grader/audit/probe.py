"""The audit's probe: runs inside the sandboxed kernel, beside a mutant of the reference.

Its source is sent as the first cell of the notebook to probe (grader/audit/equivalence.py
builds it); `grader` is not importable there, so only the standard library, numpy and torch.
It seeds every generator, records which lines of the solution cells run, records the first calls of each function and module the solution
cells define (arguments copied), and at the end replays each recorded call three ways: on
the recorded arguments, on random tensors of the same shapes, and on random tensors that
require grad, followed by a backward pass with a fixed random cotangent (so a detached
tensor shows). The result, `digest()`, is a tree of plain values and small tensors (large
ones summarised by shape, sums and a strided sample) that crosses the boundary through the
bridge like any value a hidden test reads. Nothing here decides anything.
"""

import copy
import functools
import random
import sys
import types

MAX_CALLS = 2  # recorded calls per function: a training loop calls its step thousands of times
SMALL = 1024  # tensors up to this many elements cross whole; larger ones as a summary
SAMPLES = 256
MAX_ITEMS = 200
MAX_DEPTH = 5
SKIP = {"In", "Out", "exit", "quit", "get_ipython"}
COVERAGE = "coverage"  # the digest's entry of executed lines: where a mutant is reached, never compared


def seed_all(seed, uses_torch):
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed)
    if uses_torch:
        import torch

        torch.manual_seed(seed)


class Probe:
    def __init__(self, namespace, uses_torch):
        self.namespace = namespace
        self.uses_torch = uses_torch
        self.calls = []  # (label, function, bound object or None, args, kwargs)
        self.counts = {}
        self.replaying = False
        self.pending = None  # the notebook cell whose code runs next (expect_cell)
        self.files = {}  # the file name IPython compiled a solution cell under -> that cell's index
        self.lines = {}  # cell index -> line numbers executed so far
        sys.settrace(self._trace)
        if uses_torch:
            import torch  # noqa: F401 - seeded from the start, as the notebook will use it
        seed_all(0, uses_torch)

    # -- coverage: which lines of the solution cells ran -----------------------------------
    def expect_cell(self, index):
        """The next cell IPython runs is notebook cell `index`: its file name is learnt when it starts."""
        self.pending = index

    def _trace(self, frame, event, arg):
        code = frame.f_code
        index = self.files.get(code.co_filename)
        if index is None:
            if self.pending is None or code.co_name != "<module>" or "ipykernel" not in code.co_filename:
                return None
            index = self.files[code.co_filename] = self.pending
            self.pending = None
        lines = self.lines.setdefault(index, set())

        def line(frame, event, arg):
            if event == "line":
                lines.add(frame.f_lineno)
            return line

        return line

    # -- recording ------------------------------------------------------------------------
    def wrap_cell(self, names):
        """Record calls of the functions and classes a solution cell just defined."""
        for name in names:
            obj = self.namespace.get(name)
            if isinstance(obj, type):
                for attribute in ("forward", "__call__"):
                    method = vars(obj).get(attribute)
                    if isinstance(method, types.FunctionType):
                        setattr(obj, attribute, self._recorder(f"{name}.{attribute}", method, bound=True))
                        break
            elif isinstance(obj, types.FunctionType):
                self.namespace[name] = self._recorder(name, obj, bound=False)

    def _recorder(self, label, function, bound):
        probe = self

        @functools.wraps(function)
        def recorded(*args, **kwargs):
            if not probe.replaying and probe.counts.get(label, 0) < MAX_CALLS:
                probe.counts[label] = probe.counts.get(label, 0) + 1
                this, rest = (args[0], args[1:]) if bound and args else (None, args)
                try:
                    probe.calls.append((label, function, this, _copy(rest), _copy(kwargs)))
                except Exception:  # noqa: BLE001 - an argument that cannot be copied: not replayed
                    pass
            return function(*args, **kwargs)

        return recorded

    # -- the digest -----------------------------------------------------------------------
    def digest(self):
        self.replaying = True
        out = {}
        for index, (label, function, this, args, kwargs) in enumerate(self.calls):
            for way in ("recorded", "random", "grad"):
                key = f"{way}:{label}:{index}"
                seed_all(1000 + index, self.uses_torch)
                call_args, call_kwargs = _copy(args), _copy(kwargs)
                if way != "recorded":
                    generator = random.Random(2000 + index)
                    call_args = _perturb(call_args, generator, way == "grad")
                    call_kwargs = _perturb(call_kwargs, generator, way == "grad")
                    seed_all(1000 + index, self.uses_torch)
                try:
                    value = function(this, *call_args, **call_kwargs) if this is not None else \
                        function(*call_args, **call_kwargs)
                    out[key] = summary(value)
                    if way == "recorded":
                        out[f"inputs-after:{label}:{index}"] = summary([call_args, call_kwargs])
                    if way == "grad":
                        out[f"gradients:{label}:{index}"] = _gradients(value, [call_args, call_kwargs, this])
                except Exception as error:  # noqa: BLE001 - the mutant's failure is a value like any other
                    out[key] = f"raised {type(error).__name__}"
        for name, value in list(self.namespace.items()):
            if name.startswith("_") or name in SKIP or isinstance(value, (types.ModuleType, types.FunctionType, type)):
                continue
            out[f"value:{name}"] = summary(value)
        sys.settrace(None)
        out[COVERAGE] = {str(index): sorted(lines) for index, lines in self.lines.items()}
        self.replaying = False
        return out


def _tensors(value, found, depth=0):
    torch = sys.modules.get("torch")
    if torch is None or depth > MAX_DEPTH:
        return found
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, torch.nn.Module):
        found.extend(value.parameters())
    elif isinstance(value, (list, tuple)):
        for item in value[:MAX_ITEMS]:
            _tensors(item, found, depth + 1)
    elif isinstance(value, dict):
        for item in list(value.values())[:MAX_ITEMS]:
            _tensors(item, found, depth + 1)
    return found


def _gradients(value, inputs):
    """The gradients of <output, a fixed random cotangent> with respect to every input and parameter."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    outputs = [t for t in _tensors(value, []) if t.requires_grad and t.is_floating_point()]
    leaves = [t for t in _tensors(inputs, []) if t.requires_grad and t.is_leaf]
    if not outputs or not leaves:
        return None
    generator = torch.Generator().manual_seed(7)
    loss = sum((t * torch.randn(t.shape, generator=generator, dtype=t.dtype)).sum() for t in outputs)
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return [summary(g) if g is not None else "no gradient" for g in grads]


def _copy(value, depth=0):
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        copied = value.detach().clone()
        return copied.requires_grad_(True) if value.requires_grad and copied.is_floating_point() else copied
    if depth < MAX_DEPTH and type(value) in (list, tuple):
        return type(value)(_copy(item, depth + 1) for item in value)
    if depth < MAX_DEPTH and type(value) is dict:
        return {key: _copy(item, depth + 1) for key, item in value.items()}
    if torch is not None and isinstance(value, torch.nn.Module):
        return value  # a model passed in: its state is part of the replay
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001
        return value


def _perturb(value, generator, grad, depth=0):
    """Random values of the same shapes and dtypes, for every float tensor or array."""
    torch = sys.modules.get("torch")
    numpy = sys.modules.get("numpy")
    if torch is not None and isinstance(value, torch.Tensor) and value.is_floating_point():
        seeded = torch.Generator().manual_seed(generator.randrange(2 ** 31))
        fresh = torch.randn(value.shape, generator=seeded, dtype=value.dtype)
        return fresh.requires_grad_(True) if grad else fresh
    if numpy is not None and isinstance(value, numpy.ndarray) and value.dtype.kind == "f":
        return numpy.random.default_rng(generator.randrange(2 ** 31)).standard_normal(value.shape).astype(value.dtype)
    if depth < MAX_DEPTH and type(value) in (list, tuple):
        return type(value)(_perturb(item, generator, grad, depth + 1) for item in value)
    if depth < MAX_DEPTH and type(value) is dict:
        return {key: _perturb(item, generator, grad, depth + 1) for key, item in value.items()}
    return value


def summary(value, depth=0):
    """A plain-data stand-in for `value`: what crosses, and what is compared."""
    torch = sys.modules.get("torch")
    numpy = sys.modules.get("numpy")
    if value is None or type(value) in (bool, int, float):
        return value
    if type(value) is str:
        return value[:2000]
    if numpy is not None and isinstance(value, numpy.generic):
        return summary(value.item(), depth)
    if numpy is not None and isinstance(value, numpy.ndarray):
        return _array_summary(value, numpy)
    if torch is not None and isinstance(value, torch.Tensor):
        return _tensor_summary(value, torch)
    if depth >= MAX_DEPTH:
        return f"<{type(value).__name__}>"
    if isinstance(value, (list, tuple)):
        items = [summary(item, depth + 1) for item in list(value)[:MAX_ITEMS]]
        return {"items": items, "length": len(value), "type": type(value).__name__}
    if isinstance(value, dict):
        pairs = [[repr(key)[:200], summary(item, depth + 1)] for key, item in list(value.items())[:MAX_ITEMS]]
        return {"pairs": pairs, "length": len(value)}
    if isinstance(value, (set, frozenset)):
        return {"set": sorted(repr(item)[:200] for item in value)[:MAX_ITEMS], "length": len(value)}
    if torch is not None and isinstance(value, torch.nn.Module):
        state = value.state_dict()
        return {"module": type(value).__name__,
                "state": {k: summary(v, depth + 1) for k, v in list(state.items())[:MAX_ITEMS]}}
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        return {"object": type(value).__name__,
                "attributes": {k: summary(v, depth + 1) for k, v in list(attributes.items())[:MAX_ITEMS]
                               if not k.startswith("__")}}
    return f"<{type(value).__name__}>"


def _tensor_summary(tensor, torch):
    t = tensor.detach().cpu()
    if t.is_sparse:
        t = t.to_dense()
    if t.is_complex():
        t = torch.view_as_real(t)
    grad = bool(tensor.requires_grad)
    if t.numel() <= SMALL:
        return {"tensor": t.clone().contiguous(), "requires_grad": grad}
    flat = t.reshape(-1)
    as_float = flat.double() if not t.dtype == torch.bool else flat.to(torch.float64)
    step = max(1, flat.numel() // SAMPLES)
    return {"shape": list(t.shape), "dtype": str(t.dtype), "requires_grad": grad,
            "sum": float(as_float.sum()), "abs": float(as_float.abs().sum()),
            "sample": flat[::step][:SAMPLES].clone().contiguous()}


def _array_summary(array, numpy):
    """A numpy array as lists of plain numbers (compared with a tolerance outside), large ones summarised."""
    if array.dtype.kind not in "biuf":
        return {"array": repr(array.tolist())[:2000], "shape": list(array.shape)}
    if array.size <= SMALL:
        return {"array": array.tolist(), "dtype": str(array.dtype), "shape": list(array.shape)}
    flat = array.reshape(-1)
    step = max(1, flat.size // SAMPLES)
    as_float = flat.astype(numpy.float64)
    return {"shape": list(array.shape), "dtype": str(array.dtype), "sum": float(as_float.sum()),
            "abs": float(numpy.abs(as_float).sum()), "sample": flat[::step][:SAMPLES].tolist()}
