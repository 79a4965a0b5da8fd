"""What crosses the sandbox boundary: JSON and safetensors, size-bounded, nothing else.

This module runs on both sides of the boundary: the trusted grader imports it, and
its source is sent into the sandboxed kernel (where `grader` is not importable), so
it may only use the standard library, torch and safetensors.

A value tree is encoded as JSON where tensors are replaced by references into one
safetensors blob. Objects that are not plain data become opaque handles: the
trusted side can call them through the bridge but never receives the object, so a
student cannot smuggle in an object whose `__eq__` always says True.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any, Callable

import torch
from safetensors.torch import load as _load_safetensors
from safetensors.torch import save as _save_safetensors

MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 32
MAX_ITEMS = 100_000
MAX_STRING = 1_000_000


class BoundaryError(ValueError):
    """A value that may not cross the boundary (too big, too deep, wrong type)."""


class Handle:
    """An object that stayed on the other side; only its id and type name crossed."""

    __slots__ = ("id", "type_name")

    def __init__(self, id: int, type_name: str) -> None:
        self.id = id
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name} object in the sandbox>"


def encode(value: Any, make_handle: Callable[[Any], Handle] | None = None) -> str:
    """Encode a value tree as one JSON string (tensors as base64 safetensors)."""
    tensors: dict[str, torch.Tensor] = {}
    count = [0]

    def walk(obj: Any, depth: int) -> Any:
        count[0] += 1
        if depth > MAX_DEPTH:
            raise BoundaryError(f"value nested deeper than {MAX_DEPTH} levels")
        if count[0] > MAX_ITEMS:
            raise BoundaryError(f"value holds more than {MAX_ITEMS} items")
        if type(obj).__module__ == "numpy" and type(obj).__name__ != "ndarray" and hasattr(obj, "item"):
            obj = obj.item()  # a numpy scalar (int64, float32, bool_...): most are no int or float subclass
        if obj is None or type(obj) is bool:
            return obj
        if isinstance(obj, int) and not isinstance(obj, bool):
            return int(obj)
        if isinstance(obj, float):
            obj = float(obj)
            return obj if math.isfinite(obj) else {"__float__": repr(obj)}
        if type(obj).__module__ == "numpy" and type(obj).__name__ == "ndarray":
            obj = torch.from_numpy(obj.copy())
        if type(obj) is str:
            if len(obj) > MAX_STRING:
                raise BoundaryError(f"string longer than {MAX_STRING} characters")
            return obj
        if isinstance(obj, torch.Tensor):
            if obj.is_sparse or obj.is_complex():
                raise BoundaryError("sparse and complex tensors cannot cross the boundary")
            key = f"t{len(tensors)}"
            tensors[key] = obj.detach().to("cpu").contiguous().clone()
            return {"__tensor__": key}
        if isinstance(obj, (list, tuple)):  # named tuples (load_state_dict's result) included
            items = [walk(item, depth + 1) for item in list(obj)]
            return items if isinstance(obj, list) else {"__tuple__": items}
        if isinstance(obj, dict) and all(type(k) is str for k in obj):
            # OrderedDict (state_dict) included; order is kept.
            return {"__dict__": [[k, walk(v, depth + 1)] for k, v in obj.items()]}
        if make_handle is None:
            raise BoundaryError(f"an object of type {type(obj).__name__} cannot cross the boundary")
        handle = make_handle(obj)
        return {"__handle__": handle.id, "type": handle.type_name}

    tree = walk(value, 0)
    blob = _save_safetensors(tensors) if tensors else b""
    text = json.dumps({"tree": tree, "tensors": base64.b64encode(blob).decode("ascii")})
    if len(text) > MAX_PAYLOAD_BYTES:
        raise BoundaryError(f"value is larger than {MAX_PAYLOAD_BYTES // (1024 * 1024)} MiB")
    return text


def decode(text: str, resolve_handle: Callable[[int, str], Any] | None = None) -> Any:
    """Decode what `encode` produced. Never evaluates or unpickles anything."""
    if len(text) > MAX_PAYLOAD_BYTES:
        raise BoundaryError(f"payload is larger than {MAX_PAYLOAD_BYTES // (1024 * 1024)} MiB")
    payload = json.loads(text)
    if not isinstance(payload, dict) or not isinstance(payload.get("tensors"), str):
        raise BoundaryError("malformed payload")
    blob = base64.b64decode(payload["tensors"], validate=True)
    try:
        tensors = _load_safetensors(blob) if blob else {}
    except Exception as error:  # noqa: BLE001 - SafetensorError is no ValueError: say what it is
        raise BoundaryError(f"malformed tensors in payload: {error}") from None
    count = [0]

    def walk(node: Any, depth: int) -> Any:
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise BoundaryError("payload too deep or too large")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [walk(item, depth + 1) for item in node]
        if type(node) is not dict or len(node) not in (1, 2):
            raise BoundaryError("malformed payload node")
        if "__tensor__" in node:
            key = node["__tensor__"]
            if type(key) is not str or key not in tensors:
                raise BoundaryError(f"payload refers to a missing tensor {key!r}")
            return tensors[key]
        if "__tuple__" in node:
            return tuple(walk(item, depth + 1) for item in _list(node["__tuple__"]))
        if "__dict__" in node:
            return {str(k): walk(v, depth + 1) for k, v in map(_pair, _list(node["__dict__"]))}
        if "__float__" in node:
            return float(node["__float__"]) if node["__float__"] in ("nan", "inf", "-inf") else _bad()
        if "__handle__" in node and type(node["__handle__"]) is int:
            type_name = str(node.get("type", "object"))[:200]
            if resolve_handle is None:
                return Handle(node["__handle__"], type_name)
            return resolve_handle(node["__handle__"], type_name)
        raise BoundaryError("malformed payload node")

    return walk(payload["tree"], 0)


def _list(value: Any) -> list:
    if type(value) is not list:
        raise BoundaryError("malformed payload node")
    return value


def _pair(value: Any) -> list:
    if type(value) is not list or len(value) != 2:
        raise BoundaryError("malformed payload node")
    return value


def _bad() -> Any:
    raise BoundaryError("malformed float in payload")
