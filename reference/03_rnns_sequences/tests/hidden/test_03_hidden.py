"""Hidden checks for 03_rnns_sequences, run in the trusted grader process.

Student code is reached only through the `student` fixture. Expected values come from
PyTorch, computed here: nn.LSTMCell / nn.GRUCell, and pack_padded_sequence + nn.LSTM /
nn.GRU, with weights drawn here and copied into the student's modules by name; the
encoder-decoder is checked against the same computation written with nn.LSTMCell
(helpers_recurrent.py beside this file holds the variants behind the diagnoses).

Tolerances: float32 throughout. A cell step is two small matmuls and elementwise
sigmoid/tanh, and unrolling adds at most 6 steps; different but correct orders of
summation differ by ~1e-6, while the mistakes we look for (a gate order, a missing tanh,
a state taken at the padded end) change values by 1e-2 or more. The default ATOL = 1e-5,
RTOL = 1e-4 of grader/checks/tensors.py sits between the two. Token ids and masks are
compared exactly; weights are drawn so that no argmax is near a tie.

One mistake costs points once where the tests can tell it apart: a cell's mistake fails
its cell tests, and the later tests (run_rnn, Seq2Seq, greedy_decode, the trained model)
also accept the right computation built on the student's own cell or modules, called
through the bridge. tests/fixtures/mutants/03_rnns_sequences/mutants.yaml lists which
mistake fails which test.

Beyond the defaults: the cells' gradients (torch.autograd.functional.vjp of the student's cell, run in the
sandbox, against nn.LSTMCell / nn.GRUCell's autograd here; only when the forward values are
right), the whole init range, a batch padded past its longest sequence from a given state,
targets longer than the task's 5 tokens, a non-default bos, and a few Adam steps of
train_seq2seq with non-default arguments on the student's Seq2Seq with nn.LSTMCell swapped in
(add_module), so that a cell's mistake is not charged to training.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from grader.checks.sibling_modules import load_beside
from grader.checks.sandbox_autograd import kernel_lambda, sandbox_vjp
from grader.checks.selfcheck import self_check
from grader.checks.tensors import assert_close, assert_equal, assert_tensor, is_close, shape_text, unpack

_recurrent = load_beside(__file__, "helpers_recurrent.py")  # a course file, never released (tests/hidden)
GRU_ORDER, LSTM_ORDER = _recurrent.GRU_ORDER, _recurrent.LSTM_ORDER
gate_order_sentence, gate_order_variants = _recurrent.gate_order_sentence, _recurrent.gate_order_variants
gru_step, lstm_step, unroll = _recurrent.gru_step, _recurrent.lstm_step, _recurrent.unroll

CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
GATES = {"LSTMCell": 4, "GRUCell": 3}
BOS = 10
VOCAB = 11
ACCURACY_TARGET = 0.9


# -- inputs and PyTorch's answers --------------------------------------------------------

def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def cell_params(kind: str, D: int, H: int, seed: int, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """Weights for a cell, uniform in +-scale/sqrt(H) (PyTorch's init for scale 1), drawn here."""
    g = generator(seed)
    n = GATES[kind] * H
    shapes = {"weight_ih": (n, D), "weight_hh": (n, H), "bias_ih": (n,), "bias_hh": (n,)}
    return {name: (torch.rand(shape, generator=g) * 2 - 1) * scale / math.sqrt(H) for name, shape in shapes.items()}


def torch_cell(kind: str, params: dict[str, torch.Tensor]) -> nn.Module:
    n, D = params["weight_ih"].shape
    module = (nn.LSTMCell if kind == "LSTMCell" else nn.GRUCell)(D, params["weight_hh"].size(1))
    module.load_state_dict(params)
    return module.eval()


def torch_rnn(kind: str, params, x, lengths, state=None):
    """pack_padded_sequence + nn.LSTM / nn.GRU with the cell's weights: outputs (B, T, H) and the last state."""
    D, H = params["weight_ih"].size(1), params["weight_hh"].size(1)
    module = (nn.LSTM if kind == "LSTMCell" else nn.GRU)(D, H, batch_first=True)
    module.load_state_dict({f"{name}_l0": value for name, value in params.items()})
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    if state is not None:
        state = tuple(s.unsqueeze(0) for s in state) if isinstance(state, tuple) else state.unsqueeze(0)
    with torch.no_grad():
        packed_out, last = module(packed, state)
    outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.size(1))
    last = tuple(s[0] for s in last) if isinstance(last, tuple) else last[0]
    return outputs, last


# -- the student's modules, with our weights ---------------------------------------------

def check_names(state: object, expected: dict[str, tuple[int, ...]], call: str, *, loading: bool) -> None:
    why = "; the grader loads its own weights into them by name, so it cannot run this check" if loading else ""
    assert isinstance(state, dict), f"{call}.state_dict() returned {type(state).__name__}: is it an nn.Module?"
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    assert not missing and not unexpected, (
        f"{call} has the parameters {sorted(state) or 'none'}; expected exactly {list(expected)}"
        + (f" (missing: {missing})" if missing else "") + (f" (unexpected: {unexpected})" if unexpected else "")
        + why
    )
    for name, shape in expected.items():
        assert_tensor(state[name], what=f"{call}.state_dict()['{name}']", shape=shape)


def cell_shapes(kind: str, D: int, H: int) -> dict[str, tuple[int, ...]]:
    n = GATES[kind] * H
    return {"weight_ih": (n, D), "weight_hh": (n, H), "bias_ih": (n,), "bias_hh": (n,)}


def load(module, params: dict[str, torch.Tensor], expected_shapes, call: str):
    """Load our weights into a student module (names checked first, loading verified), eval mode."""
    check_names(module.state_dict(), expected_shapes, call, loading=True)
    module.load_state_dict(params)
    module.eval()
    back = module.state_dict()
    assert all(is_close(back[name], value, atol=0, rtol=0) for name, value in params.items()), (
        "after load_state_dict the parameters are not the ones loaded; do not override load_state_dict or state_dict"
    )
    return module


def student_cell(student, kind: str, D: int, H: int, params):
    return load(getattr(student, kind)(D, H), params, cell_shapes(kind, D, H), f"{kind}({D}, {H})")


def remote_step(cell, kind: str):
    """A step function that calls the student's cell through the bridge; None if it cannot work."""
    def step(x, state):
        result = cell(x, state)
        ok = (isinstance(result, (tuple, list)) and len(result) == 2
              and all(isinstance(r, torch.Tensor) for r in result)) if kind == "LSTMCell" \
            else isinstance(result, torch.Tensor)
        if not ok:
            raise TypeError("not a state")
        return tuple(result) if kind == "LSTMCell" else result
    return step


# The LSTM cell as a function of flat tensors (autograd.functional differentiates tensors, not a state tuple),
# compiled in the student's kernel; a list returned for the state counts as the tuple it stands for.
LSTM_STEP = "lambda cell, x, h, c: tuple(cell(x, (h, c)))"


def attempt(function, *args, **kwargs):
    """The value of a computation built on the student's code, or None when that code fails
    (its failure is the job of the test that checks it)."""
    try:
        return function(*args, **kwargs)
    except Exception:  # noqa: BLE001
        return None


# -- the cells ---------------------------------------------------------------------------

def test_lstm_parameters(student):
    """weight_ih (4H, D), weight_hh (4H, H), bias_ih and bias_hh (4H,), initialised in +-1/sqrt(H)."""
    check_cell_parameters(student, "LSTMCell")


def test_gru_parameters(student):
    """weight_ih (3H, D), weight_hh (3H, H), bias_ih and bias_hh (3H,), initialised in +-1/sqrt(H)."""
    check_cell_parameters(student, "GRUCell")


def check_cell_parameters(student, kind: str) -> None:
    for D, H in ((5, 7), (3, 16), (4, 40)):
        call = f"{kind}({D}, {H})"
        state = getattr(student, kind)(D, H).state_dict()
        check_names(state, cell_shapes(kind, D, H), call, loading=False)
        bound = 1 / math.sqrt(H)
        for name in CELL_NAMES:
            value = state[name]
            assert bool((value.abs() <= bound + 1e-6).all()), (
                f"{call}: {name} has values up to {value.abs().max().item():.3g}; initialise every parameter "
                f"uniformly in [-1/sqrt(H), 1/sqrt(H)] = [-{bound:.3g}, {bound:.3g}], as PyTorch does"
            )
            if value.numel() >= 256:  # enough draws that a uniform's largest one lies within 10% of the bound
                assert value.abs().max().item() >= 0.9 * bound, (
                    f"{call}: {name} has values only up to {value.abs().max().item():.3g}; initialise every parameter "
                    f"uniformly in the whole range [-1/sqrt(H), 1/sqrt(H)] = [-{bound:.3g}, {bound:.3g}], as PyTorch does"
                )
            assert value.std().item() > bound / 10, (
                f"{call}: {name} is (almost) constant; initialise it uniformly in [-1/sqrt(H), 1/sqrt(H)]: "
                "equal weights make every hidden unit learn the same thing"
            )


LSTM_MISTAKES = {
    "missing_tanh": "h' = o * c' without the tanh; h' = o * tanh(c')",
    "g_sigmoid": "the candidate g goes through a sigmoid; g = tanh(...), only i, f and o are sigmoids",
    "hh_bias": "bias_hh is not added; the gates are x W_ih^T + b_ih + h W_hh^T + b_hh",
    "old_c": "h' is computed from the old cell state c; use the new one, h' = o * tanh(c')",
}


def lstm_diagnoses(params, x, state, index: int) -> dict[str, torch.Tensor]:
    found = {gate_order_sentence(order, LSTM_ORDER): out[index]
             for order, out in gate_order_variants(lstm_step, params, LSTM_ORDER, x, state).items()}
    variants = {"missing_tanh": dict(missing_tanh=True), "g_sigmoid": dict(g_sigmoid=True),
                "hh_bias": dict(hh_bias=False), "old_c": dict(h_from_old_c=True)}
    found.update({LSTM_MISTAKES[key]: lstm_step(params, x, state, **knobs)[index] for key, knobs in variants.items()})
    return found


def test_lstm_cell_matches_torch(student):
    """h' and c' equal nn.LSTMCell's with the same weights, from a random state (two sizes, batch > 1)."""
    for B, D, H, seed in ((3, 5, 7, 11), (4, 6, 3, 12)):
        params = cell_params("LSTMCell", D, H, seed, scale=2.0)  # larger weights: every gate matters
        g = generator(seed + 100)
        x, state = torch.randn(B, D, generator=g), (torch.randn(B, H, generator=g), torch.randn(B, H, generator=g))
        with torch.no_grad():
            expected = torch_cell("LSTMCell", params)(x, state)
        self_check(all(is_close(a, e) for a, e in zip(lstm_step(params, x, state), expected)), "lstm_step")
        call = f"LSTMCell({D}, {H})(x, (h, c)) with x {shape_text(x.shape)}, h and c ({B}, {H})"
        cell = student_cell(student, "LSTMCell", D, H, params)
        h, c = unpack(cell(x, state), ("h", "c"), what=call)
        for index, actual, name in ((0, h, "h"), (1, c, "c")):
            assert_close(actual, expected[index], what=f"{name} returned by {call} (weights copied from nn.LSTMCell)",
                         diagnoses=lstm_diagnoses(params, x, state, index))


def test_lstm_cell_zero_state(student):
    """Without a state, the cell starts from h = c = 0."""
    B, D, H = 3, 5, 7
    params = cell_params("LSTMCell", D, H, 21, scale=2.0)
    x = torch.randn(B, D, generator=generator(22))
    with torch.no_grad():
        expected = torch_cell("LSTMCell", params)(x)
    cell = student_cell(student, "LSTMCell", D, H, params)
    call = f"LSTMCell({D}, {H})(x) with x {shape_text(x.shape)} and no state"
    h, c = unpack(cell(x), ("h", "c"), what=call)
    zeros = torch.zeros(B, H)
    own = attempt(lambda: unpack(cell(x, (zeros, zeros)), ("h", "c"), what=call))  # a wrong cell: its own test's job
    for index, actual, name in ((0, h, "h"), (1, c, "c")):
        assert_close(actual, expected[index], what=f"{name} returned by {call} (the state must default to zeros)",
                     alternatives=[own[index]] if own else [])


GRU_MISTAKES = {
    "z_inverted": "the update gate is used the wrong way round: PyTorch's h' = (1 - z) * n + z * h (z = 1 keeps "
                  "the old state); yours is z * n + (1 - z) * h",
    "reset_before": "the reset gate is applied to h before the product, W_hn (r * h) + b_hn (Cho et al.'s first "
                    "version); PyTorch computes r * (W_hn h + b_hn)",
    "bias_outside": "b_hn is added outside the reset gate; PyTorch computes r * (W_hn h + b_hn), bias included",
}


def gru_diagnoses(params, x, h) -> dict[str, torch.Tensor]:
    found = {gate_order_sentence(order, GRU_ORDER): out
             for order, out in gate_order_variants(gru_step, params, GRU_ORDER, x, h).items()}
    variants = {"z_inverted": dict(z_inverted=True), "reset_before": dict(reset_before=True),
                "bias_outside": dict(bias_outside_reset=True)}
    found.update({GRU_MISTAKES[key]: gru_step(params, x, h, **knobs) for key, knobs in variants.items()})
    return found


def test_gru_cell_matches_torch(student):
    """h' equals nn.GRUCell's with the same weights, from a random state (two sizes, batch > 1)."""
    for B, D, H, seed in ((3, 5, 7, 31), (4, 6, 3, 32)):
        params = cell_params("GRUCell", D, H, seed, scale=2.0)
        g = generator(seed + 100)
        x, h = torch.randn(B, D, generator=g), torch.randn(B, H, generator=g)
        with torch.no_grad():
            expected = torch_cell("GRUCell", params)(x, h)
        self_check(is_close(gru_step(params, x, h), expected), "gru_step")
        call = f"GRUCell({D}, {H})(x, h) with x {shape_text(x.shape)}, h ({B}, {H})"
        actual = student_cell(student, "GRUCell", D, H, params)(x, h)
        assert_close(actual, expected, what=f"the h returned by {call} (weights copied from nn.GRUCell)",
                     diagnoses=gru_diagnoses(params, x, h))


def test_gru_cell_zero_state(student):
    """Without a state, the cell starts from h = 0."""
    B, D, H = 3, 5, 7
    params = cell_params("GRUCell", D, H, 41, scale=2.0)
    x = torch.randn(B, D, generator=generator(42))
    with torch.no_grad():
        expected = torch_cell("GRUCell", params)(x)
    cell = student_cell(student, "GRUCell", D, H, params)
    call = f"GRUCell({D}, {H})(x) with x {shape_text(x.shape)} and no state"
    own = attempt(cell, x, torch.zeros(B, H))
    assert_close(cell(x), expected, what=f"the h returned by {call} (the state must default to zeros)",
                 alternatives=[own] if isinstance(own, torch.Tensor) else [])


def check_cell_gradients(student, kind: str, seed: int) -> None:
    """The gradients of the student's cell with respect to x and the state, by torch.autograd.functional.vjp in the
    sandbox, equal
    nn.LSTMCell's / nn.GRUCell's. A cell whose forward values are wrong is its own test's job and passes here."""
    B, D, H = 3, 5, 7
    params = cell_params(kind, D, H, seed, scale=2.0)
    g = generator(seed + 100)
    x = torch.randn(B, D, generator=g)
    state = (torch.randn(B, H, generator=g), torch.randn(B, H, generator=g)) if kind == "LSTMCell" \
        else torch.randn(B, H, generator=g)
    cotangent = (torch.randn(B, H, generator=g), torch.randn(B, H, generator=g)) if kind == "LSTMCell" \
        else torch.randn(B, H, generator=g)
    cell = student_cell(student, kind, D, H, params)
    forward = attempt(remote_step(cell, kind), x, state)
    if forward is None:
        return  # the cell raises: its own tests say so
    leaves = [x.clone().requires_grad_()] + [s.clone().requires_grad_() for s in
                                             (state if isinstance(state, tuple) else (state,))]
    module = torch_cell(kind, params)
    out = module(leaves[0], tuple(leaves[1:]) if kind == "LSTMCell" else leaves[1])
    outs = out if isinstance(out, tuple) else (out,)
    expected = torch.autograd.grad(outs, leaves, cotangent if isinstance(cotangent, tuple) else (cotangent,))
    if not all(is_close(a, e.detach()) for a, e in zip(forward if isinstance(forward, tuple) else (forward,), outs)):
        return  # wrong values: the cell's own tests say so
    state_text = "(h, c)" if kind == "LSTMCell" else "h"
    call = f"{kind}({D}, {H})(x, {state_text}) with x {shape_text(x.shape)}"
    flat_state = state if isinstance(state, tuple) else (state,)
    try:
        function = kernel_lambda(student, LSTM_STEP, cell) if kind == "LSTMCell" else cell
        _, grads = sandbox_vjp(student, function, (x, *flat_state), cotangent)
    except Exception as error:  # noqa: BLE001 - the student's forward under autograd
        raise AssertionError(
            f"the grader could not differentiate {call} with torch.autograd.functional.vjp "
            f"({' '.join(str(error).split())[:300]}): "
            "do not modify the state you are given in place (no `c.mul_(...)`, `h += ...`), and keep every step a "
            "torch operation on tensors (no .item(), no NumPy)") from None
    assert isinstance(grads, tuple) and len(grads) == 1 + len(flat_state), \
        f"torch.autograd.functional.vjp of {call} returned no gradients"
    actual = list(grads)
    names = ["x"] + (["h", "c"] if kind == "LSTMCell" else ["h"])
    for name, got, want in zip(names, actual, expected):
        assert_close(got, want, what=f"the gradient of a backward pass through {call} with respect to {name} "
                     f"(compared with nn.{kind}'s; the values of h' were right): is something detached from the "
                     "autograd graph in forward (.detach(), .data, torch.no_grad())? Gradients must flow from the "
                     "new state back to x and to the old state, through every step")


def test_lstm_cell_gradients(student):
    """A backward pass through the cell gives nn.LSTMCell's gradients with respect to x, h and c (nothing detached)."""
    check_cell_gradients(student, "LSTMCell", 25)


def test_gru_cell_gradients(student):
    """A backward pass through the cell gives nn.GRUCell's gradients with respect to x and h (nothing detached)."""
    check_cell_gradients(student, "GRUCell", 45)


# -- run_rnn -----------------------------------------------------------------------------

RUN_MISTAKES = {
    "ignores_lengths": "the lengths are ignored: every sequence runs over the padding to step T",
    "not_zeroed": "the outputs past each sequence's length are not zero",
    "state_at_end": "the state is the one after step T - 1, not each sequence's last valid step: freeze a "
                    "finished sequence's state (torch.where(valid, new_state, state))",
    "off_by_one": "each sequence runs one step too many: step t is valid while t < length (t counts from 0)",
}


def run_diagnoses(step, x, lengths, state, index: int, part: int | None = None) -> dict[str, torch.Tensor]:
    """The wrong outputs (index 0) or states (index 1; `part` 0 = h, 1 = c of an LSTM state)."""
    variants = {"state_at_end": dict(freeze_state=False), "ignores_lengths": dict(use_lengths=False),
                "not_zeroed": dict(zero_outputs=False), "off_by_one": dict(off_by_one=True)}
    found = {}
    for key, knobs in variants.items():
        value = unroll(step, x, lengths, state, **knobs)[index]
        found[RUN_MISTAKES[key]] = value[part] if part is not None else value
    return found


def run_case(student, kind: str, seed: int, *, with_state: bool, lengths=(3, 6, 1, 4), T: int | None = None):
    """A padded batch with lengths in no order (one of 1), the student's cell with our weights; T defaults to the
    longest length (one sequence full)."""
    B, T, D, H = len(lengths), T or max(lengths), 5, 7
    params = cell_params(kind, D, H, seed, scale=2.0)
    g = generator(seed + 1)
    x = torch.randn(B, T, D, generator=g)
    lengths = torch.tensor(lengths)
    state = None
    if with_state:
        state = (torch.randn(B, H, generator=g), torch.randn(B, H, generator=g)) if kind == "LSTMCell" \
            else torch.randn(B, H, generator=g)
    cell = student_cell(student, kind, D, H, params)
    step = (lambda xt, s: lstm_step(params, xt, s)) if kind == "LSTMCell" else (lambda xt, s: gru_step(params, xt, s))
    expected = torch_rnn(kind, params, x, lengths, state)
    reference = unroll(step, x, lengths, state)
    self_check(is_close(reference[0], expected[0]), "unroll vs packed RNN")
    call = (f"run_rnn({kind}({D}, {H}), x, lengths{', state' if with_state else ''}) with x {shape_text(x.shape)}, "
            f"lengths {lengths.tolist()}")
    result = unpack(student.run_rnn(cell, x, lengths, state), ("outputs", "state"), what=call)
    own = attempt(unroll, remote_step(cell, kind), x, lengths, state)  # the right unrolling of the student's cell
    return call, result, expected, own, (step, x, lengths, state)


def test_run_rnn_lstm_outputs(student):
    """The outputs equal pad_packed_sequence's from nn.LSTM over a packed batch: h per step, zeros past each length."""
    call, (outputs, _), expected, own, args = run_case(student, "LSTMCell", 51, with_state=False)
    assert_close(outputs, expected[0], what=f"the outputs of {call} (compared with pack_padded_sequence + nn.LSTM)",
                 diagnoses=run_diagnoses(*args, index=0), alternatives=[own[0]] if own else [])


def test_run_rnn_lstm_state(student):
    """The state is each sequence's last valid (h, c): nn.LSTM's (h_n, c_n) for a packed batch."""
    for seed, lengths in ((61, (3, 6, 1, 4)), (62, (2, 5, 5, 1, 3))):
        call, (_, state), expected, own, args = run_case(student, "LSTMCell", seed, with_state=False, lengths=lengths)
        h, c = unpack(state, ("h", "c"), what=f"the state returned by {call} (an LSTM cell's state is a pair)")
        for index, actual, name in ((0, h, "h"), (1, c, "c")):
            assert_close(actual, expected[1][index],
                         what=f"{name} of the state returned by {call} (compared with nn.LSTM's h_n, c_n)",
                         diagnoses=run_diagnoses(*args, index=1, part=index),
                         alternatives=[own[1][index]] if own else [])


def run_variants(step, x, lengths, state, index: int) -> list:
    return [unroll(step, x, lengths, state, **{knob: value})[index] for knob, value in
            (("use_lengths", False), ("zero_outputs", False), ("freeze_state", False), ("off_by_one", True))]


def test_run_rnn_gru(student):
    """With a GRU cell (a tensor state, not a tuple) and an initial state: outputs and last state equal nn.GRU's.

    The mistakes with the lengths are the LSTM tests' job and pass here."""
    call, (outputs, state), expected, own, args = run_case(student, "GRUCell", 71, with_state=True)
    for index, actual, what in ((0, outputs, f"the outputs of {call} (compared with pack_padded_sequence + nn.GRU)"),
                                (1, state, f"the state returned by {call} (a GRU cell's state is the tensor h)")):
        accepted = run_variants(*args, index=index) + ([own[index]] if own else [])
        ignored = unroll(args[0], args[1], args[2], None)[index]
        assert_close(actual, expected[index], what=what, alternatives=accepted,
                     diagnoses={"the initial state is ignored: start from `state` when it is given": ignored})


def test_run_rnn_long_padded(student):
    """A long batch padded beyond its longest sequence (T = 12, lengths up to 9), LSTM cell, from a given initial
    state: outputs and last (h, c) equal nn.LSTM's over the packed batch."""
    call, (outputs, state), expected, own, args = run_case(student, "LSTMCell", 75, with_state=True,
                                                           lengths=(3, 9, 1, 7, 5), T=12)
    assert_tensor(outputs, what=f"the outputs of {call}", shape=tuple(expected[0].shape))
    ignored = unroll(args[0], args[1], args[2], None)
    assert_close(outputs, expected[0], what=f"the outputs of {call} (compared with pack_padded_sequence + nn.LSTM; "
                 "T is x.shape[1], every step past a sequence's length is zero)",
                 diagnoses={**run_diagnoses(*args, index=0),
                            "the initial state is ignored: start from `state` when it is given": ignored[0]},
                 alternatives=[own[0]] if own else [])
    h, c = unpack(state, ("h", "c"), what=f"the state returned by {call} (an LSTM cell's state is a pair)")
    for index, actual, name in ((0, h, "h"), (1, c, "c")):
        assert_close(actual, expected[1][index],
                     what=f"{name} of the state returned by {call} (compared with nn.LSTM's h_n, c_n)",
                     diagnoses={**run_diagnoses(*args, index=1, part=index),
                                "the initial state is ignored: start from `state` when it is given":
                                    ignored[1][index]},
                     alternatives=[own[1][index]] if own else [])


# -- the encoder-decoder -----------------------------------------------------------------

def test_decoder_inputs(student):
    """BOS, then the targets shifted right by one step; the last target is dropped."""
    tgt = torch.randint(0, 10, (3, 5), generator=generator(81))
    for bos, call in ((BOS, "decoder_inputs(tgt)"), (7, "decoder_inputs(tgt, bos=7)")):
        expected = torch.cat([torch.full((3, 1), bos), tgt[:, :-1]], dim=1)
        actual = student.decoder_inputs(tgt) if bos == BOS else student.decoder_inputs(tgt, bos=bos)
        what = f"{call} for tgt of shape (3, 5)"
        if isinstance(actual, torch.Tensor) and not torch.equal(actual, expected):
            if actual.shape == tgt.shape and torch.equal(actual, tgt):
                raise AssertionError(f"{what} returned the targets unchanged: the decoder would read the token it "
                                     "must predict. Shift them right: BOS, then tgt[:, :-1]")
            if actual.shape == (3, 6):
                raise AssertionError(f"{what}: got shape (3, 6), expected (3, 5): drop the last target token "
                                     "(it is never an input, only predicted)")
            if actual.shape == tgt.shape and torch.equal(actual[:, :-1], tgt[:, 1:]):
                raise AssertionError(f"{what} shifts the targets left; shift them right: BOS, then tgt[:, :-1]")
        assert_equal(actual, expected, what=what)


def test_decoder_inputs_long(student):
    """Longer targets than the task's 5 digits (T = 12, repeated tokens) and bos = 0: BOS, then tgt[:, :-1]."""
    tgt = torch.tensor([[3, 3, 3, 1, 1, 2, 2, 2, 2, 9, 9, 0], [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]])
    expected = torch.cat([torch.zeros(2, 1, dtype=torch.long), tgt[:, :-1]], dim=1)
    call = "decoder_inputs(tgt, bos=0) for tgt of shape (2, 12)"
    actual = student.decoder_inputs(tgt, bos=0)
    if isinstance(actual, torch.Tensor) and actual.shape != tgt.shape:
        raise AssertionError(f"{call}: got shape {shape_text(actual.shape)}, expected (2, 12): the decoder inputs "
                             "have the targets' length, whatever it is (not only the task's 5)")
    assert_equal(actual, expected, what=call)


def seq2seq_shapes(V: int, E: int, H: int) -> dict[str, tuple[int, ...]]:
    shapes = {"embedding.weight": (V, E)}
    for side in ("encoder", "decoder"):
        shapes.update({f"{side}.{name}": shape for name, shape in cell_shapes("LSTMCell", E, H).items()})
    shapes.update({"out.weight": (V, H), "out.bias": (V,)})
    return shapes


def seq2seq_params(V: int, E: int, H: int, seed: int) -> dict[str, torch.Tensor]:
    """Weights that make the logits well separated, so that no argmax is a near tie."""
    g = generator(seed)
    params = {}
    for name, shape in seq2seq_shapes(V, E, H).items():
        params[name] = (torch.rand(shape, generator=g) * 2 - 1) * (2.0 if "weight" in name else 0.5)
    params["embedding.weight"] = torch.randn(V, E, generator=g)
    return params


def side(params, name: str) -> dict[str, torch.Tensor]:
    return {key.split(".", 1)[1]: value for key, value in params.items() if key.startswith(name + ".")}


def torch_steps(params):
    encoder, decoder = torch_cell("LSTMCell", side(params, "encoder")), torch_cell("LSTMCell", side(params, "decoder"))
    return (lambda x, s: encoder(x, s)), (lambda x, s: decoder(x, s))


def embed(params, tokens):
    return params["embedding.weight"][tokens]


def logits_of(params, h):
    return h @ params["out.weight"].T + params["out.bias"]


def encode(params, src, encoder_step, *, reverse: bool = False):
    x = embed(params, src.flip(1) if reverse else src)  # (B, S, E)
    state = None
    for t in range(src.size(1)):
        state = encoder_step(x[:, t], state)
    return state


@torch.no_grad()
def teacher_forced(params, src, tgt_in, encoder_step, decoder_step, *, start: str = "encoder",
                   from_c: bool = False, reverse: bool = False):
    """Seq2Seq.forward: the decoder starts from the encoder's last (h, c) and reads tgt_in."""
    state = encode(params, src, encoder_step, reverse=reverse)
    if start == "zeros":
        state = None
    elif start == "h_only":
        state = (state[0], torch.zeros_like(state[1]))
    y = embed(params, tgt_in)
    logits = []
    for t in range(tgt_in.size(1)):
        state = decoder_step(y[:, t], state)
        logits.append(logits_of(params, state[1] if from_c else state[0]))
    return torch.stack(logits, dim=1)


@torch.no_grad()
def greedy(params, src, length, encoder_step, decoder_step, *, first: int = BOS, feed_back: bool = True):
    state = encode(params, src, encoder_step)
    token = torch.full((src.size(0),), first, dtype=torch.long)
    tokens = []
    for _ in range(length):
        state = decoder_step(embed(params, token), state)
        prediction = logits_of(params, state[0]).argmax(dim=-1)
        tokens.append(prediction)
        if feed_back:
            token = prediction
    return torch.stack(tokens, dim=1)


def loaded_seq2seq(student, V, E, H, seed):
    params = seq2seq_params(V, E, H, seed)
    model = load(student.Seq2Seq(V, E, H), params, seq2seq_shapes(V, E, H), f"Seq2Seq({V}, {E}, {H})")
    return model, params


def test_seq2seq_parameters(student):
    """An nn.Embedding, two LSTMCells and an nn.Linear named embedding, encoder, decoder and out."""
    for V, E, H in ((11, 16, 64), (7, 4, 5)):
        state = student.Seq2Seq(V, E, H).state_dict()
        check_names(state, seq2seq_shapes(V, E, H), f"Seq2Seq({V}, {E}, {H})", loading=False)


SEQ2SEQ_MISTAKES = {
    "zeros": "the decoder starts from a zero state: start it from the encoder's last (h, c)",
    "h_only": "the decoder starts from the encoder's h but a zero c: pass the whole state (h, c) on",
    "from_c": "the logits are computed from the cell state c; use the hidden state h",
    "reverse": "the encoder reads the source backwards",
}


def test_seq2seq_teacher_forcing(student):
    """Seq2Seq(src, tgt_in) equals the teacher-forced encoder-decoder with the same weights (S != T, batch > 1)."""
    for V, E, H, B, S, T, seed in ((11, 6, 8, 3, 5, 4, 91), (7, 4, 5, 2, 3, 6, 92)):
        model, params = loaded_seq2seq(student, V, E, H, seed)
        g = generator(seed + 100)
        src, tgt_in = torch.randint(0, V, (B, S), generator=g), torch.randint(0, V, (B, T), generator=g)
        expected = teacher_forced(params, src, tgt_in, *torch_steps(params))
        call = (f"Seq2Seq({V}, {E}, {H})(src, tgt_in) with src {shape_text(src.shape)}, "
                f"tgt_in {shape_text(tgt_in.shape)}")
        actual = model(src, tgt_in)
        encoder, decoder = remote_step(model.encoder, "LSTMCell"), remote_step(model.decoder, "LSTMCell")
        own = attempt(teacher_forced, params, src, tgt_in, encoder, decoder)  # the right wiring of the student's cells
        steps = torch_steps(params)
        diagnoses = {SEQ2SEQ_MISTAKES[key]: teacher_forced(params, src, tgt_in, *steps, **knobs) for key, knobs in
                     {"zeros": dict(start="zeros"), "h_only": dict(start="h_only"), "from_c": dict(from_c=True),
                      "reverse": dict(reverse=True)}.items()}
        assert_close(actual, expected, what=f"the logits of {call}", diagnoses=diagnoses,
                     alternatives=[own] if own is not None else [])


def remote_greedy(model, src, length, bos: int = BOS):
    """The right greedy loop around the student's own encode, embedding, decoder and out."""
    state = tuple(model.encode(src))
    token = torch.full((src.size(0),), bos, dtype=torch.long)
    tokens = []
    for _ in range(length):
        state = tuple(model.decoder(model.embedding(token), state))
        token = model.out(state[0]).argmax(dim=-1)
        tokens.append(token)
    return torch.stack(tokens, dim=1)


def test_greedy_decode(student):
    """greedy_decode starts from BOS and feeds back each step's argmax; (B, length) tokens, BOS excluded."""
    V, E, H, B, S, length = 11, 6, 8, 6, 5, 7
    model, params = loaded_seq2seq(student, V, E, H, 101)
    src = torch.randint(0, 10, (B, S), generator=generator(102))
    steps = torch_steps(params)
    expected = greedy(params, src, length, *steps)
    variants = {
        "starts from token 0 instead of BOS": greedy(params, src, length, *steps, first=0),
        "reads BOS at every step: feed back the token just predicted": greedy(params, src, length, *steps,
                                                                              feed_back=False),
    }
    self_check(all(not torch.equal(expected, v) for v in variants.values()), "greedy variants differ")
    call = f"greedy_decode(model, src, {length}) with src {shape_text(src.shape)}"
    actual = student.greedy_decode(model, src, length)
    if isinstance(actual, torch.Tensor) and not actual.is_floating_point() and actual.shape == expected.shape:
        own = attempt(remote_greedy, model, src, length)
        if own is not None and torch.equal(actual, own):
            return  # the right loop around the student's own model: its mistakes are the other tests' job
        for mistake, tokens in variants.items():
            if torch.equal(actual, tokens):
                raise AssertionError(f"{call} returned other tokens than expected; it matches a known mistake: "
                                     f"it {mistake}")
    if isinstance(actual, torch.Tensor) and actual.shape == (B, length + 1) and bool((actual[:, 0] == BOS).all()):
        raise AssertionError(f"{call}: got shape {shape_text(actual.shape)}, expected ({B}, {length}): "
                             "leave BOS out of the returned tokens")
    assert_equal(actual, expected, what=call)


def test_greedy_decode_bos(student):
    """greedy_decode(..., bos=...) starts from the `bos` it is given, for a length other than the source's."""
    V, E, H, B, S, length, bos = 11, 6, 8, 5, 4, 9, 3
    model, params = loaded_seq2seq(student, V, E, H, 103)
    src = torch.randint(0, 10, (B, S), generator=generator(104))
    steps = torch_steps(params)
    expected = greedy(params, src, length, *steps, first=bos)
    from_default = greedy(params, src, length, *steps, first=BOS)
    self_check(not torch.equal(expected, from_default), "greedy from bos differs")
    call = f"greedy_decode(model, src, {length}, bos={bos}) with src {shape_text(src.shape)}"
    actual = student.greedy_decode(model, src, length, bos=bos)
    if isinstance(actual, torch.Tensor) and not actual.is_floating_point() and actual.shape == expected.shape:
        own = attempt(remote_greedy, model, src, length, bos)
        if own is not None and torch.equal(actual, own):
            return  # the right loop around the student's own model: its mistakes are the other tests' job
        if torch.equal(actual, from_default) or (own is not None and torch.equal(actual, attempt(
                remote_greedy, model, src, length, BOS))):
            raise AssertionError(f"{call} returned the tokens decoded from BOS = {BOS}: start from the `bos` "
                                 "argument, not the global BOS")
    assert_equal(actual, expected, what=call)


def trained_accuracy(params, src, tgt, encoder_step, decoder_step) -> float:
    return (greedy(params, src, tgt.size(1), encoder_step, decoder_step) == tgt).float().mean().item()


def test_trained_model_accuracy(student):
    """The notebook's trained `model` reverses new digit sequences: >= 90% of the digits right, decoded greedily."""
    model = student.model
    state = model.state_dict()
    assert isinstance(state, dict) and isinstance(state.get("encoder.weight_ih"), torch.Tensor) \
        and isinstance(state.get("encoder.weight_hh"), torch.Tensor), \
        "`model` has no encoder.weight_ih and encoder.weight_hh: is it your trained Seq2Seq?"
    E, H = state["encoder.weight_ih"].size(1), state["encoder.weight_hh"].size(1)
    check_names(state, seq2seq_shapes(VOCAB, E, H), "model (your trained Seq2Seq)", loading=False)
    g = generator(2024)
    src = torch.randint(0, 10, (500, 5), generator=g)  # new sequences, drawn here
    tgt = src.flip(1)
    params = {name: value.float() for name, value in state.items()}
    accuracy = trained_accuracy(params, src, tgt, *torch_steps(params))
    if accuracy < ACCURACY_TARGET:  # the model may have been trained with the student's own (different) cell
        own = attempt(trained_accuracy, params, src, tgt, remote_step(model.encoder, "LSTMCell"),
                      remote_step(model.decoder, "LSTMCell"))
        accuracy = max(accuracy, own or 0.0)
    assert accuracy >= ACCURACY_TARGET, (
        f"greedy decoding with your trained model's weights gets {accuracy:.1%} of the digits right on 500 new "
        f"sequences of 5 digits; at least {ACCURACY_TARGET:.0%} are needed. Check that training uses "
        "decoder_inputs(tgt) as the decoder's input and tgt as the target, and that the loss goes down"
    )


# -- training ----------------------------------------------------------------------------

def reverse_batch(n: int, seed: int, length: int = 5):
    """The notebook's reverse_task (given to students, not theirs to write), drawn here."""
    src = torch.randint(0, 10, (n, length), generator=generator(seed))
    return src, src.flip(1)


def reference_training(params, steps: int, batch_size: int, lr: float, seed: int, *, batch_seed=None,
                       optimizer: str = "adam", zero_grad: bool = True):
    """train_seq2seq with nn.LSTMCell cells, here: the losses and the parameters after `steps` Adam steps."""
    V, E = params["embedding.weight"].shape
    H = params["out.weight"].size(1)
    modules = nn.ModuleDict({"embedding": nn.Embedding(V, E), "encoder": nn.LSTMCell(E, H),
                             "decoder": nn.LSTMCell(E, H), "out": nn.Linear(H, V)})
    modules.load_state_dict(params)
    make = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
    opt = make(modules.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        src, tgt = reverse_batch(batch_size, batch_seed(step) if batch_seed else seed + step)
        tgt_in = torch.cat([torch.full_like(tgt[:, :1], BOS), tgt[:, :-1]], dim=1)
        x, y = modules["embedding"](src), modules["embedding"](tgt_in)
        state = None
        for t in range(src.size(1)):
            state = modules["encoder"](x[:, t], state)
        logits = []
        for t in range(tgt_in.size(1)):
            state = modules["decoder"](y[:, t], state)
            logits.append(modules["out"](state[0]))
        logits = torch.stack(logits, dim=1)
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1))
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return torch.tensor(losses), {name: value.detach().clone() for name, value in modules.state_dict().items()}


TRAIN_MISTAKES = {
    "lr": "the learning rate `lr` is not used (the default 1e-2 instead)",
    "seed": "the batches do not depend on `seed`: each batch's seed is seed + step",
    "batch_size": "the batches have 64 sequences whatever `batch_size` is",
    "zero_grad": "the gradients are not zeroed between steps (optimizer.zero_grad()), so they accumulate",
    "sgd": "the optimiser is SGD; train with torch.optim.Adam",
}


def test_train_seq2seq_steps(student):
    """train_seq2seq(model, steps=4, batch_size=16, lr=0.03, seed=5) on the student's Seq2Seq (with nn.LSTMCell cells
    swapped in) gives the losses and weights of 4 Adam steps on reverse_task(16, seed=5 + step)."""
    V, E, H, steps, batch_size, lr, seed = VOCAB, 6, 8, 4, 16, 0.03, 5
    params = seq2seq_params(V, E, H, 111)
    model = student.Seq2Seq(V, E, H)
    for name in ("encoder", "decoder"):  # PyTorch's cells: a mistake in the student's cell is its own tests' job
        model.add_module(name, student.nn.LSTMCell(E, H))
    load(model, params, seq2seq_shapes(V, E, H), f"Seq2Seq({V}, {E}, {H}) with nn.LSTMCell cells")
    src, tgt = reverse_batch(batch_size, seed)
    tgt_in = torch.cat([torch.full_like(tgt[:, :1], BOS), tgt[:, :-1]], dim=1)
    forward = attempt(model, src, tgt_in)
    if forward is None or not is_close(forward, teacher_forced(params, src, tgt_in, *torch_steps(params))):
        return  # a wrong forward is test_seq2seq_teacher_forcing's job
    expected_losses, expected_state = reference_training(params, steps, batch_size, lr, seed)
    call = f"train_seq2seq(model, steps={steps}, batch_size={batch_size}, lr={lr}, seed={seed})"
    losses = student.train_seq2seq(model, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    assert isinstance(losses, (list, tuple)) and all(isinstance(v, (int, float)) for v in losses), (
        f"{call} returned {type(losses).__name__}; it must return the list of the losses (floats, loss.item())")
    assert len(losses) == steps, f"{call} returned {len(losses)} losses; one per step, {steps} steps"
    variants = {TRAIN_MISTAKES["lr"]: dict(lr=1e-2), TRAIN_MISTAKES["seed"]: dict(batch_seed=lambda step: step),
                TRAIN_MISTAKES["batch_size"]: dict(batch_size=64), TRAIN_MISTAKES["zero_grad"]: dict(zero_grad=False),
                TRAIN_MISTAKES["sgd"]: dict(optimizer="sgd")}
    diagnoses = {}
    for mistake, knobs in variants.items():
        kwargs = dict(steps=steps, batch_size=batch_size, lr=lr, seed=seed) | knobs
        diagnoses[mistake] = reference_training(params, **kwargs)[0]
    assert_close(torch.tensor(losses, dtype=torch.float32), expected_losses, atol=1e-4, rtol=1e-4,
                 what=f"the losses returned by {call} (the first is the loss before any step: the data, the "
                      "decoder inputs and the loss; the others also depend on the updates)", diagnoses=diagnoses)
    state = model.state_dict()
    for name, value in expected_state.items():
        assert_close(state[name], value, atol=1e-4, rtol=1e-3,
                     what=f"model.state_dict()['{name}'] after {call} (compared with the same {steps} Adam steps "
                          "here): do the gradients reach every parameter? Nothing in forward may be detached")
