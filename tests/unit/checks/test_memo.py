"""grader/checks/memo.py: expected values reused across students only when that cannot change a verdict."""

from __future__ import annotations

import types

import pytest
import torch

from grader.checks import memo


@pytest.fixture(autouse=True)
def _fresh_cache():
    memo.clear()
    yield
    memo.clear()


def counting(function):
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)
    return counted, calls


def test_same_contents_computed_once_and_handed_out_as_copies():
    double, calls = counting(lambda x, scale=2: x * scale)
    cached = memo.memoised(double)
    first = cached(torch.arange(3.0), scale=2)
    first.add_(100)  # a test editing its expected value in place
    second = cached(torch.arange(3.0), scale=2)  # another tensor, same contents
    assert len(calls) == 1
    assert torch.equal(second, torch.tensor([0.0, 2.0, 4.0]))


def test_other_contents_dtype_or_arguments_are_computed_again():
    double, calls = counting(lambda x, scale=2: x * scale)
    cached = memo.memoised(double)
    cached(torch.arange(3.0))
    cached(torch.arange(3.0) + 1)
    cached(torch.arange(3, dtype=torch.float64))
    cached(torch.arange(3.0), scale=3)
    assert len(calls) == 4


def test_tensors_that_require_grad_or_objects_are_never_cached():
    identity, calls = counting(lambda x, f=None: x if f is None else f(x))
    cached = memo.memoised(identity)
    leaf = torch.ones(2, requires_grad=True)
    assert cached(leaf) is leaf and cached(leaf) is leaf  # the caller differentiates through it
    cached(torch.ones(2), f=torch.neg)  # a callable: a student's function, say
    cached(torch.ones(2), f=torch.neg)
    assert len(calls) == 4
    assert memo.stats()["entries"] == 0


def test_a_function_that_draws_random_numbers_is_never_cached():
    noisy, calls = counting(lambda x: x + torch.randn(()))
    cached = memo.memoised(noisy)
    torch.manual_seed(0)
    cached(torch.zeros(()))
    after_first = torch.randn(())
    torch.manual_seed(0)
    cached(torch.zeros(()))
    assert len(calls) == 2
    assert torch.equal(torch.randn(()), after_first)  # the generator moved exactly as without the cache


def test_a_function_that_changes_its_arguments_is_never_cached():
    def scale_in_place(x):
        return x.mul_(2)
    counted, calls = counting(scale_in_place)
    cached = memo.memoised(counted)
    a, b = torch.ones(2), torch.ones(2)
    cached(a)
    cached(b)
    assert len(calls) == 2 and torch.equal(b, torch.full((2,), 2.0))


def test_reference_view_memoises_functions_and_keeps_classes():
    module = types.ModuleType("ref")
    exec("import torch\ndef square(x):\n    return x * x\nclass Layer:\n    pass\nCONSTANT = 3\n", module.__dict__)
    view = memo.memoising_reference(module)
    assert memo.memoising_reference(module) is view  # one view, so students share its cache
    assert view.Layer is module.Layer and view.CONSTANT == 3
    view.square(torch.full((2,), 3.0))
    view.square(torch.full((2,), 3.0))
    assert memo.stats()["hits"] == 1


def test_reference_view_is_live_and_a_write_starts_a_new_generation():
    module = types.ModuleType("ref")
    exec("def scaled(x):\n    return x * factor\nfactor = 2\n", module.__dict__)
    view = memo.memoising_reference(module)
    assert torch.equal(view.scaled(torch.ones(1)), torch.full((1,), 2.0))
    view.factor = 3  # a test setting the reference's global (07 loads its tokenizer so)
    assert module.factor == 3
    assert torch.equal(view.scaled(torch.ones(1)), torch.full((1,), 3.0))


def test_a_reference_function_that_rebinds_a_global_is_never_cached():
    module = types.ModuleType("ref")
    exec("calls = 0\ndef counted(x):\n    global calls\n    calls += 1\n    return x\n", module.__dict__)
    view = memo.memoising_reference(module)
    view.counted(torch.ones(1))
    view.counted(torch.ones(1))
    assert module.calls == 2
