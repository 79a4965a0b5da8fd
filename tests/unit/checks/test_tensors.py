"""grader/checks/tensors.py: pass on matching tensors, fail with a message a student can act on."""

import re

import pytest
import torch

from grader.kernel.bridge import RemoteObject
from grader.checks.tensors import (ATOL, RTOL, CheckFailed, NotATensor, assert_close, assert_equal, assert_tensor,
                                   describe, is_close, unpack)
from grader.models import Signal, SignalKind


def failure(function, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as error:
        function(*args, **kwargs)
    return str(error.value)


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))


def test_tolerances_are_the_documented_float32_ones():
    assert (ATOL, RTOL) == (1e-5, 1e-4)


# -- assert_tensor, describe, unpack ---------------------------------------------------------

def test_assert_tensor_returns_a_matching_tensor(x):
    assert assert_tensor(x, what="out", shape=(2, 3, 4), dtype=torch.float32) is x


def test_assert_tensor_names_the_type_of_a_remote_object():
    remote = RemoteObject(None, 7, "AlwaysEqual", "scaled_dot_product_attention(...)")  # type: ignore[arg-type]
    message = failure(assert_tensor, remote, what="the weights")
    assert message == "the weights: returned an AlwaysEqual object, expected a tensor"


@pytest.mark.parametrize("value, text", [(None, "None"), ("abc", "a str object"), ([1], "a list object")])
def test_describe_plain_values(value, text):
    assert describe(value) == text


def test_assert_tensor_shows_both_shapes(x):
    assert failure(assert_tensor, x, what="the output", shape=(2, 3, 5)) == \
        "the output: got shape (2, 3, 4), expected (2, 3, 5)"


def test_assert_tensor_shows_both_dtypes():
    assert failure(assert_tensor, torch.ones(2, 2), what="causal_mask(2)", dtype=torch.bool) == \
        "causal_mask(2): got dtype torch.float32, expected torch.bool"


def test_unpack_returns_the_pair(x):
    assert unpack([x, x], ("output", "weights"), what="f()") == (x, x)


def test_unpack_explains_a_single_tensor(x):
    message = failure(unpack, x, ("output", "weights"), what="f(q, k, v)")
    assert message.startswith("f(q, k, v) returned a tensor of shape (2, 3, 4)")
    assert "must return a tuple (output, weights)" in message


def test_unpack_explains_a_wrong_length(x):
    assert "returned a tuple of 3 values; it must return 2" in failure(unpack, (x, x, x), ("a", "b"), what="f()")


# -- is_close and assert_close ----------------------------------------------------------------

def test_within_tolerance_passes(x):
    assert_close(x + ATOL / 2, x, what="out")
    assert_close(x * (1 + RTOL / 2), x, what="out", atol=0)


def test_is_close_is_false_for_other_shapes_and_non_tensors(x):
    assert not is_close(x[0], x)
    assert not is_close("x", x)
    assert is_close(torch.tensor([float("nan"), 1.0]), torch.tensor([float("nan"), 1.0]))


def test_mismatch_reports_count_largest_error_and_position(x):
    actual = x.clone()
    actual[1, 2, 3] += 0.5
    actual[0, 0, 0] += 0.1
    message = failure(assert_close, actual, x, what="the weights")
    assert message.startswith("the weights: 2 of 24 values differ from the expected ones")
    assert "the largest error is 0.5 at [1, 2, 3]" in message
    assert "shape (2, 3, 4)" in message and "tolerance 1e-05 + 0.0001 * |expected|" in message
    assert "known mistake" not in message


def test_a_matching_diagnosis_is_named(x):
    message = failure(assert_close, x * 2, x, what="out",
                      diagnoses={"the scale is doubled": x * 3, "the scale is missing": x * 2})
    assert message.endswith("It matches a known mistake: the scale is missing")
    assert "doubled" not in message


def test_a_diagnosis_can_explain_a_shape_mismatch(x):
    message = failure(assert_close, x.mean(dim=1), x, what="the weights",
                      diagnoses={"the weights are averaged over the heads": x.mean(dim=1)})
    assert "got shape (2, 4), expected (2, 3, 4)" in message
    assert "averaged over the heads" in message


def test_alternatives_pass_and_other_values_still_fail(x):
    assert_close(x * 2, x, what="out", alternatives=[x * 2])
    assert "2 values" not in failure(assert_close, x * 3, x, what="out", alternatives=[x * 2])


def test_unexpected_nan_is_explained(x):
    actual = x.clone()
    actual[0, 1] = float("nan")
    message = failure(assert_close, actual, x, what="the output")
    assert message.startswith("the output: NaN at 4 of 24 positions (first at [0, 1, 0])")
    assert "entirely -inf" in message


def test_infinite_errors_are_reported_as_inf():
    message = failure(assert_close, torch.tensor([float("-inf"), 0.5]), torch.tensor([0.0, 0.5]), what="w")
    assert "the largest error is inf at [0] (got -inf, expected 0" in message


def test_non_tensor_against_expected(x):
    remote = RemoteObject(None, 3, "AlwaysEqual", "f(...)")  # type: ignore[arg-type]
    assert failure(assert_close, remote, x, what="out") == "out: returned an AlwaysEqual object, expected a tensor"


@pytest.mark.parametrize("check", [assert_tensor, lambda actual, what: assert_close(actual, torch.ones(2), what=what)])
def test_an_object_posing_as_a_result_is_recorded_as_a_signal(check):
    remote = RemoteObject(None, 3, "AlwaysEqual", "f(...)")  # type: ignore[arg-type]
    with pytest.raises(NotATensor) as error:
        check(remote, what="out")
    assert error.value.signals == (Signal(SignalKind.FAKE_RESULT, "AlwaysEqual"),)
    for mistake in (None, [1.0, 2.0], 3.0):  # plain data: a mistake, not a fake
        with pytest.raises(NotATensor) as error:
            check(mistake, what="out")
        assert error.value.signals == ()


def test_a_different_dtype_is_compared_by_value_and_named(x):
    assert_close(x.double(), x, what="out")
    assert "your dtype torch.float16" in failure(assert_close, (x + 1).half(), x, what="out")


# -- assert_equal ------------------------------------------------------------------------------

def test_assert_equal_passes_on_identical_masks():
    mask = torch.ones(3, 3, dtype=torch.bool).tril()
    assert_equal(mask.clone(), mask, what="causal_mask(3)")


def test_assert_equal_shows_the_first_difference_and_both_masks():
    expected = torch.ones(3, 3, dtype=torch.bool).tril()
    message = failure(assert_equal, torch.ones(3, 3, dtype=torch.bool), expected, what="causal_mask(3)")
    assert message.startswith("causal_mask(3): wrong at 3 of 9 positions, first at [0, 1] (got True, expected False)")
    assert "got:\ntensor([[1, 1, 1]," in message and "expected:\ntensor([[1, 0, 0]," in message


def test_assert_equal_checks_the_dtype_first():
    expected = torch.ones(2, 2, dtype=torch.bool)
    assert "got dtype torch.int64, expected torch.bool" in failure(assert_equal, torch.ones(2, 2, dtype=torch.long),
                                                                   expected, what="m")


def test_assert_close_on_differing_scalars_says_by_how_much() -> None:
    import pytest
    import torch

    from grader.checks.tensors import assert_close

    with pytest.raises(AssertionError, match="largest error is 0.5"):
        assert_close(torch.tensor(1.5), torch.tensor(1.0), what="loss")


# -- for_student: the same sentence without the hidden expected values --------------------------

def student_failure(function, *args, **kwargs) -> tuple[str, str]:
    """(the full message, the student's version) of a helper's failure."""
    with pytest.raises(CheckFailed) as error:
        function(*args, **kwargs)
    return str(error.value), error.value.for_student


def test_assert_close_tells_the_student_where_and_what_they_got_but_not_the_expected_value():
    expected = torch.tensor([[0.25, 0.6543], [0.125, 0.5]])
    actual = expected.clone()
    actual[0, 1] = 0.17
    message, for_student = student_failure(assert_close, actual, expected, what="the weights")
    assert "(got 0.17, expected 0.6543;" in message and "the largest error is 0.484 at [0, 1]" in message
    assert for_student == ("the weights: 1 of 4 values differ from the expected ones; the largest error is at [0, 1] "
                           "(got 0.17; shape (2, 2); tolerance 1e-05 + 0.0001 * |expected|)")
    assert "0.6543" not in for_student and "0.484" not in for_student  # got + error would give it away


def test_assert_close_keeps_the_dtype_note_and_the_diagnosis_for_the_student(x):
    message, for_student = student_failure(assert_close, (x * 2).double(), x, what="out",
                                           diagnoses={"the scale is missing": x * 2})
    assert for_student.endswith("It matches a known mistake: the scale is missing")
    assert "your dtype torch.float64" in for_student
    hidden = re.search(r"\(got [-\d.]+, expected ([-\d.]+);", message).group(1)
    assert hidden not in for_student


def test_a_scalar_or_infinite_error_is_not_given_to_the_student():
    message, for_student = student_failure(assert_close, torch.tensor(1.5), torch.tensor(1.0), what="loss")
    assert "largest error is 0.5" in message and "expected 1)" not in message and "expected 1;" in message
    assert for_student.startswith("loss: 1 of 1 values differ from the expected ones; the largest error is at [] "
                                  "(got 1.5; shape ()")
    _, for_student = student_failure(assert_close, torch.tensor([float("-inf"), 0.5]), torch.tensor([0.0, 0.5]),
                                     what="w")
    assert "(got -inf; shape (2)" in for_student and "inf at" not in for_student and "expected 0" not in for_student


def test_assert_equal_leaves_the_expected_tensor_out_for_the_student():
    expected = torch.tensor([3, 1, 4, 1, 5])
    actual = torch.tensor([3, 1, 7, 1, 9])
    message, for_student = student_failure(assert_equal, actual, expected, what="tokens")
    assert "(got 7, expected 4)" in message and "expected:\ntensor([3, 1, 4, 1, 5])" in message
    assert for_student == ("tokens: wrong at 2 of 5 positions, first at [2] (got 7)\n"
                           "got:\ntensor([3, 1, 7, 1, 9])")


@pytest.mark.parametrize("check", [
    lambda x: assert_tensor(x, what="out", shape=(2, 3, 5)),
    lambda x: assert_tensor(x, what="out", dtype=torch.bool),
    lambda x: assert_tensor(None, what="out"),
    lambda x: unpack(x, ("output", "weights"), what="f(q, k, v)"),
    lambda x: unpack((x, x, x), ("output", "weights"), what="f(q, k, v)"),
    lambda x: assert_close(x[0], x, what="out"),
    lambda x: assert_close(x.to(torch.complex64), x, what="out"),
    lambda x: assert_close(torch.full_like(x, float("nan")), x, what="out"),
    lambda x: assert_equal(x.long(), x, what="out"),
], ids=["shape", "dtype", "not-a-tensor", "not-a-tuple", "tuple-length", "close-shape", "complex", "nan",
        "equal-dtype"])
def test_messages_without_hidden_values_reach_the_student_whole(x, check):
    """Types, shapes, dtypes and counts are in the notebook's instructions or the student's own values."""
    message, for_student = student_failure(check, x)
    assert for_student == message
