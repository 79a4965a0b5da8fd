"""grader/kernel/extract.py: what crosses the sandbox boundary, both ways, and what is refused."""

from __future__ import annotations

import base64
import json
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
import torch

from grader.kernel import extract
from grader.kernel.extract import BoundaryError, Handle, decode, encode


def round_trip(value: object) -> object:
    return decode(encode(value))


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**62, 1.5, "", "ünïcode ✓ <script>", [], [1, [2, [3]]],
    (1, "a", None), {"b": 1, "a": [2.0, (3,)]}, {"nested": {"deeper": {"x": ()}}},
])
def test_plain_data_comes_back_equal_with_its_types(value: object) -> None:
    back = round_trip(value)
    assert back == value and type(back) is type(value)


def test_dict_order_tuples_and_named_tuples_survive() -> None:
    Pair = namedtuple("Pair", "missing_keys unexpected_keys")  # what load_state_dict returns
    back = round_trip(OrderedDict([("z", 1), ("a", Pair(["w"], []))]))
    assert list(back) == ["z", "a"]
    assert back["a"] == (["w"], []) and type(back["a"]) is tuple  # a plain tuple: no class crosses


@pytest.mark.parametrize("special", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_cross_although_json_has_none(special: float) -> None:
    text = encode([special])
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} written as bare JSON"))
    (back,) = decode(text)
    assert repr(back) == repr(special)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
                                   torch.int8, torch.bool])
def test_tensors_keep_values_dtype_and_shape(dtype: torch.dtype) -> None:
    tensor = (torch.arange(24) % 5).reshape(2, 3, 4).to(dtype)
    back = round_trip({"x": tensor, "empty": torch.zeros(0, 3, dtype=dtype)})
    assert back["x"].dtype == dtype and back["x"].shape == (2, 3, 4) and torch.equal(back["x"], tensor)
    assert back["empty"].shape == (0, 3)


def test_a_tensor_crosses_as_a_detached_contiguous_copy() -> None:
    leaf = torch.ones(3, 4, requires_grad=True)
    view = (leaf * 2).t()  # non-contiguous, part of a graph
    back = round_trip(view)
    assert not back.requires_grad and back.is_contiguous() and back.shape == (4, 3)
    back.add_(1)
    assert torch.equal(view, torch.full((4, 3), 2.0))  # the sender's tensor is untouched


def test_numpy_arrays_and_scalars_become_torch_and_python_values() -> None:
    back = round_trip([np.arange(6, dtype=np.float32).reshape(2, 3), np.int64(3), np.float32(0.5), np.bool_(True),
                       np.float64(2.5)])
    assert isinstance(back[0], torch.Tensor) and back[0].dtype == torch.float32 and back[0].shape == (2, 3)
    assert back[1:] == [3, 0.5, True, 2.5]
    assert [type(v) for v in back[1:]] == [int, float, bool, float]


def test_the_payload_is_json_holding_one_safetensors_blob() -> None:
    payload = json.loads(encode({"a": torch.ones(2), "b": [torch.zeros(1)]}))
    assert set(payload) == {"tree", "tensors"}
    blob = base64.b64decode(payload["tensors"])
    header = json.loads(blob[8:8 + int.from_bytes(blob[:8], "little")])
    assert set(header) - {"__metadata__"} == {"t0", "t1"}


# -- handles -------------------------------------------------------------------------------
class Opaque:
    def __eq__(self, other: object) -> bool:  # the object a student would love to smuggle across
        return True


def test_objects_cross_only_as_handles_with_their_type_name() -> None:
    made: list[object] = []

    def make_handle(obj: object) -> Handle:
        made.append(obj)
        return Handle(41 + len(made), type(obj).__name__)

    text = encode({"model": Opaque(), "fn": len}, make_handle=make_handle)
    back = decode(text)
    assert isinstance(back["model"], Handle) and (back["model"].id, back["model"].type_name) == (42, "Opaque")
    assert back["model"] != 0 and repr(back["model"]) == "<Opaque object in the sandbox>"
    assert (back["fn"].id, back["fn"].type_name) == (43, "builtin_function_or_method")
    assert decode(text, lambda key, name: f"resolved {key} {name}") == {
        "model": "resolved 42 Opaque", "fn": "resolved 43 builtin_function_or_method"}


def test_a_handles_type_name_is_cut_to_200_characters() -> None:
    text = json.dumps({"tree": {"__handle__": 1, "type": "X" * 10_000}, "tensors": ""})
    assert len(decode(text).type_name) == 200


# -- refused ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "match"), [
    (Opaque(), "type Opaque cannot cross"),
    ({1: "int key"}, "type dict cannot cross"),
    ({"a": {1, 2}}, "type set cannot cross"),
    (b"bytes", "type bytes cannot cross"),
    (torch.ones(2, dtype=torch.complex64), "complex"),
    (torch.eye(2).to_sparse(), "sparse"),
    ("x" * (extract.MAX_STRING + 1), "string longer than"),
])
def test_what_is_not_plain_data_is_refused_without_a_handle_maker(value: object, match: str) -> None:
    with pytest.raises(BoundaryError, match=match):
        encode(value)


def test_nesting_and_item_limits_are_enforced_when_encoding() -> None:
    deep: list = []
    for _ in range(extract.MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(BoundaryError, match="nested deeper"):
        encode(deep)
    encode([0] * (extract.MAX_ITEMS - 1))  # the list itself is an item too
    with pytest.raises(BoundaryError, match="more than"):
        encode([0] * extract.MAX_ITEMS)


def test_the_payload_size_is_bounded_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "MAX_PAYLOAD_BYTES", 4096)
    with pytest.raises(BoundaryError, match="larger than"):
        encode(torch.zeros(2048))
    with pytest.raises(BoundaryError, match="larger than"):
        decode(json.dumps({"tree": "x" * 5000, "tensors": ""}))


def payload(tree: object, tensors: str = "") -> str:
    return json.dumps({"tree": tree, "tensors": tensors})


@pytest.mark.parametrize("text", [
    "[]",
    json.dumps({"tree": 1}),
    payload({"__pickle__": "gASVAAAAAAAAAAA="}),
    payload({"__tensor__": "t0"}),  # no such tensor
    payload({"__tensor__": ["t0"]}),
    payload({"__dict__": [["a", 1, 2]]}),
    payload({"__dict__": [5]}),
    payload({"__dict__": "ab"}),
    payload({"__tuple__": {"a": 1}}),
    payload({"__float__": "1e999999"}),
    payload({"__handle__": "1", "type": "str id"}),
    payload({"a": 1, "b": 2, "c": 3}),
    payload(1, base64.b64encode(b"hello, not safetensors").decode()),
])
def test_a_malformed_payload_is_a_boundary_error(text: str) -> None:
    """Whatever a sandbox sends, the trusted side gets a value or a BoundaryError, nothing else."""
    with pytest.raises(BoundaryError):
        decode(text)


def test_a_payload_that_is_not_json_or_not_base64_is_a_value_error() -> None:
    # the bridge turns ValueError (BoundaryError is one) into the student's error message
    with pytest.raises(ValueError):
        decode("not json")
    with pytest.raises(ValueError):
        decode(payload(1, "!!not base64!!"))


def test_decoding_too_deep_a_payload_is_refused() -> None:
    tree: object = 0
    for _ in range(extract.MAX_DEPTH + 2):
        tree = [tree]
    with pytest.raises(BoundaryError, match="too deep"):
        decode(payload(tree))
