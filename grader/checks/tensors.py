"""Assertion helpers for hidden tests: each failure says what to fix, in a version a student may read.

Every helper raises CheckFailed, an AssertionError whose message says what was
expected, what came back (type, shape, dtype, the largest error and where), and,
when the wrong value matches a known mistake computed by the test, which mistake
it looks like. The message is for the course staff; `for_student` is the same
sentence without the hidden expected values (numbers, tensors, an error size that
gives one away), written here beside the message so that no later stage parses it
(the runner records it; feedback pages and exports show it). Expected shapes and
dtypes stay: the notebook's instructions state them.

Values returned through the bridge may be `RemoteObject` handles instead of tensors
(a student function returned a non-data object); they are reported by their type
name and never compared, and an object of a class that is not plain data is
recorded as a tamper signal (NotATensor.signals): a class posing as a result.

Tolerances: attention in float32 on the small inputs the tests use accumulates
rounding errors around 1e-6 (matmul vs einsum, fused vs unfused softmax), while
the common mistakes (a missing scale, the wrong softmax dim, a mask applied after
the softmax) change values by 1e-2 or more. ATOL = 1e-5 and RTOL = 1e-4 sit
between the two: |actual - expected| <= ATOL + RTOL * |expected|, elementwise.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import torch

from grader.models import Signal, SignalKind

ATOL = 1e-5
RTOL = 1e-4
# What a wrong answer plausibly is: a mistake, not a class posing as a result (no signal).
PLAIN_TYPES = frozenset({"NoneType", "tuple", "list", "int", "float", "str", "dict", "bool", "ndarray"})


class CheckFailed(AssertionError):
    """A check's failure: str() is the full message (staff), `for_student` the one a student may read."""

    def __init__(self, message: str, *, for_student: str) -> None:
        super().__init__(message)
        self.for_student = for_student


class NotATensor(CheckFailed):
    """A check got something other than a tensor; `signals` holds a fake result, if it looks like one.

    Its message names only what came back and that a tensor was expected: a student may read all of it."""

    def __init__(self, message: str, actual: Any) -> None:
        super().__init__(message, for_student=message)
        name = type_name(actual)
        self.signals = () if name in PLAIN_TYPES else (Signal(SignalKind.FAKE_RESULT, name),)


def type_name(value: Any) -> str:
    """The type of a value as the student would name it (a RemoteObject knows its type)."""
    remote = getattr(type(value), "type_name", None)
    if isinstance(remote, property):
        return str(value.type_name)
    return type(value).__name__


def shape_text(shape: Sequence[int] | torch.Size) -> str:
    return "(" + ", ".join(str(int(n)) for n in shape) + ")"


def describe(value: Any) -> str:
    """A one-line description: a tensor's shape and dtype, or an object's type."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {shape_text(value.shape)} and dtype {value.dtype}"
    if value is None:
        return "None"
    name = type_name(value)
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name} object"


def assert_tensor(actual: Any, *, what: str, shape: Sequence[int] | None = None,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """Fail unless `actual` is a tensor (of `shape` and `dtype` when given); returns it."""
    if not isinstance(actual, torch.Tensor):
        raise NotATensor(f"{what}: returned {describe(actual)}, expected a tensor", actual)
    if shape is not None and tuple(actual.shape) != tuple(shape):
        raise _visible(f"{what}: got shape {shape_text(actual.shape)}, expected {shape_text(shape)}")
    if dtype is not None and actual.dtype != dtype:
        raise _visible(f"{what}: got dtype {actual.dtype}, expected {dtype}")
    return actual


def unpack(result: Any, names: Sequence[str], *, what: str) -> tuple[Any, ...]:
    """Fail unless `result` is a tuple (or list) of len(names) values; returns it as a tuple."""
    wanted = "(" + ", ".join(names) + ")"
    if not isinstance(result, (tuple, list)):
        raise _visible(f"{what} returned {describe(result)}; it must return a tuple {wanted}")
    if len(result) != len(names):
        raise _visible(f"{what} returned a tuple of {len(result)} values; it must return {len(names)}: {wanted}")
    return tuple(result)


def is_close(actual: Any, expected: torch.Tensor, *, atol: float = ATOL, rtol: float = RTOL) -> bool:
    """True when `actual` is a real tensor of `expected`'s shape with every value within tolerance."""
    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape or actual.is_complex():
        return False
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    return bool(torch.isclose(a, e, atol=atol, rtol=rtol, equal_nan=True).all())


def assert_close(actual: Any, expected: torch.Tensor, *, what: str, atol: float = ATOL, rtol: float = RTOL,
                 diagnoses: Mapping[str, torch.Tensor] | None = None,
                 alternatives: Iterable[torch.Tensor] = ()) -> None:
    """Fail unless `actual` matches `expected` within atol + rtol * |expected|, elementwise.

    diagnoses: known wrong values, keyed by the sentence that explains the mistake;
        when `actual` matches one, that sentence ends the failure message.
    alternatives: other values that also pass. A test lists a mistake here when
        another test already penalises it, so that one mistake costs points once.
    """
    if any(is_close(actual, other, atol=atol, rtol=rtol) for other in alternatives):
        return
    diagnosis = _diagnose(actual, diagnoses or {}, atol=atol, rtol=rtol)
    if not isinstance(actual, torch.Tensor):
        raise NotATensor(f"{what}: returned {describe(actual)}, expected a tensor{diagnosis}", actual)
    if tuple(actual.shape) != tuple(expected.shape):
        raise _visible(f"{what}: got shape {shape_text(actual.shape)}, "
                       f"expected {shape_text(expected.shape)}{diagnosis}")
    if actual.is_complex():
        raise _visible(f"{what}: got a complex tensor, expected {expected.dtype}")
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    close = torch.isclose(a, e, atol=atol, rtol=rtol, equal_nan=True)
    if bool(close.all()):
        return
    bad_nan = torch.isnan(a) & ~torch.isnan(e)
    if bool(bad_nan.any()):
        raise _visible(f"{what}: NaN at {int(bad_nan.sum())} of {a.numel()} positions (first at "
                        f"{_index(bad_nan.nonzero()[0])}) where finite values were expected; a softmax over a row "
                        f"that is entirely -inf gives NaN{diagnosis}")
    error = (a - e).abs()
    error = torch.where(close, torch.zeros_like(a), torch.where(torch.isnan(error), float("inf"), error))
    worst = error.flatten().argmax()
    position = _index(torch.stack(torch.unravel_index(worst, a.shape))) if a.dim() else "[]"
    dtype_note = f", your dtype {actual.dtype}" if actual.dtype != expected.dtype else ""
    differ = f"{what}: {int((~close).sum())} of {a.numel()} values differ from the expected ones"
    got = f"got {float(a.flatten()[worst]):.6g}"
    rest = f"shape {shape_text(a.shape)}{dtype_note}; tolerance {atol:g} + {rtol:g} * |expected|){diagnosis}"
    # The student sees where and what they got: the error's size with it would give the expected value away.
    raise CheckFailed(
        f"{differ}; the largest error is {float(error.flatten()[worst]):.3g} at {position} "
        f"({got}, expected {float(e.flatten()[worst]):.6g}; {rest}",
        for_student=f"{differ}; the largest error is at {position} ({got}; {rest}",
    )


def assert_equal(actual: Any, expected: torch.Tensor, *, what: str) -> None:
    """Fail unless `actual` has `expected`'s shape, dtype and exactly its values (masks, indices)."""
    assert_tensor(actual, what=what, shape=expected.shape, dtype=expected.dtype)
    wrong = actual != expected
    if bool(wrong.any()):
        first = tuple(int(i) for i in wrong.nonzero()[0])
        where = f"{what}: wrong at {int(wrong.sum())} of {wrong.numel()} positions, first at {list(first)}"
        raise CheckFailed(
            f"{where} (got {actual[first].item()}, expected {expected[first].item()})"
            f"\ngot:\n{_small(actual)}\nexpected:\n{_small(expected)}",
            for_student=f"{where} (got {actual[first].item()})\ngot:\n{_small(actual)}",
        )


def _visible(message: str) -> CheckFailed:
    """A failure whose message holds no hidden value (types, shapes, dtypes, counts): a student sees all of it."""
    return CheckFailed(message, for_student=message)


def _diagnose(actual: Any, diagnoses: Mapping[str, torch.Tensor], *, atol: float, rtol: float) -> str:
    for sentence, wrong in diagnoses.items():
        if is_close(actual, wrong, atol=atol, rtol=rtol):
            return f"\nIt matches a known mistake: {sentence}"
    return ""


def _index(position: torch.Tensor) -> str:
    return "[" + ", ".join(str(int(i)) for i in position) + "]"


def _small(tensor: torch.Tensor) -> str:
    """The tensor itself when it is small enough to read, else its shape."""
    if tensor.numel() <= 64:
        return str(tensor.to(torch.int8) if tensor.dtype == torch.bool else tensor)
    return f"(a tensor of shape {shape_text(tensor.shape)})"
