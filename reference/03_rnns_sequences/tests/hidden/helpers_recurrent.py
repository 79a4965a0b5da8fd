"""Recurrent cells computed in the trusted process, with the knobs students get wrong.

A helper of this course's hidden tests, beside them (loaded by test_03_hidden.py through
grader.checks.sibling_modules.load_beside; under tests/hidden, so never released). Hidden tests of
03_rnns_sequences compare a student's LSTM and GRU cells with PyTorch's
and, when they differ, with these variants, so that the message can name the mistake
("the gates are read in the order i, g, f, o"). Parameters are dicts with PyTorch's
names (`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`), gates stacked along dim 0 in
PyTorch's order: i, f, g, o for an LSTM, r, z, n for a GRU.

A step function maps (x (B, D), state) to the new state: (h, c) for an LSTM, h for a
GRU. `unroll` runs any step function over a padded batch the way `pack_padded_sequence`
+ `nn.LSTM` do, so a test can run the right unrolling around a student's own cell.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Mapping

import torch

Params = Mapping[str, torch.Tensor]
State = Any  # a tensor h, or a tuple (h, c)
Step = Callable[[torch.Tensor, State], State]

LSTM_ORDER = "ifgo"
GRU_ORDER = "rzn"


def reorder(params: Params, read_as: str, order: str) -> dict[str, torch.Tensor]:
    """The parameters a correct cell needs to compute what a cell reading its gate blocks
    in the order `read_as` computes: block k is used as gate read_as[k]."""
    out = {}
    for name, value in params.items():
        blocks = value.chunk(len(order), dim=0)
        out[name] = torch.cat([blocks[read_as.index(gate)] for gate in order], dim=0)
    return out


def lstm_step(params: Params, x: torch.Tensor, state: State = None, *, missing_tanh: bool = False,
              g_sigmoid: bool = False, hh_bias: bool = True, h_from_old_c: bool = False) -> tuple:
    """One LSTM step (nn.LSTMCell's equations), with a switch per common mistake."""
    H = params["weight_hh"].size(1)
    if state is None:
        zeros = x.new_zeros(x.size(0), H)
        state = (zeros, zeros)
    h, c = state
    gates = x @ params["weight_ih"].T + params["bias_ih"] + h @ params["weight_hh"].T  # (B, 4H)
    if hh_bias:
        gates = gates + params["bias_hh"]
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.sigmoid(g) if g_sigmoid else torch.tanh(g)
    new_c = f * c + i * g
    shown = c if h_from_old_c else new_c
    new_h = o * shown if missing_tanh else o * torch.tanh(shown)
    return new_h, new_c


def gru_step(params: Params, x: torch.Tensor, h: State = None, *, z_inverted: bool = False,
             reset_before: bool = False, bias_outside_reset: bool = False) -> torch.Tensor:
    """One GRU step (nn.GRUCell's equations), with a switch per common mistake."""
    H = params["weight_hh"].size(1)
    if h is None:
        h = x.new_zeros(x.size(0), H)
    x_r, x_z, x_n = (x @ params["weight_ih"].T + params["bias_ih"]).chunk(3, dim=-1)
    w_hr, w_hz, w_hn = params["weight_hh"].chunk(3, dim=0)
    b_hr, b_hz, b_hn = params["bias_hh"].chunk(3, dim=0)
    r = torch.sigmoid(x_r + h @ w_hr.T + b_hr)
    z = torch.sigmoid(x_z + h @ w_hz.T + b_hz)
    if reset_before:  # Cho et al.'s original: the reset gate scales h before the product
        n = torch.tanh(x_n + (r * h) @ w_hn.T + b_hn)
    elif bias_outside_reset:
        n = torch.tanh(x_n + r * (h @ w_hn.T) + b_hn)
    else:
        n = torch.tanh(x_n + r * (h @ w_hn.T + b_hn))
    return z * n + (1 - z) * h if z_inverted else (1 - z) * n + z * h


def gate_order_variants(step: Callable[..., State], params: Params, order: str, *args: Any) -> dict[str, State]:
    """What the cell computes when it reads the gate blocks in every other order."""
    variants = {}
    for read_as in itertools.permutations(order):
        read_as = "".join(read_as)
        if read_as != order:
            variants[read_as] = step(reorder(params, read_as, order), *args)
    return variants


def gate_order_sentence(read_as: str, order: str) -> str:
    chunks = ", ".join(f"chunk {k} is {gate}" for k, gate in enumerate(order))
    return (f"the gates are read in the order {', '.join(read_as)}; PyTorch stacks them as {', '.join(order)} "
            f"(in weight_ih, weight_hh and both biases, {chunks})")


def state_h(state: State) -> torch.Tensor:
    return state[0] if isinstance(state, tuple) else state


def where_state(valid: torch.Tensor, new: State, old: State) -> State:
    if isinstance(new, tuple):
        return tuple(torch.where(valid, n, o) for n, o in zip(new, old))
    return torch.where(valid, new, old)


def unroll(step: Step, x: torch.Tensor, lengths: torch.Tensor, state: State = None, *,
           use_lengths: bool = True, zero_outputs: bool = True, freeze_state: bool = True,
           off_by_one: bool = False) -> tuple[torch.Tensor, State]:
    """Run `step` over x (B, T, D); outputs (B, T, H) zero past each length, and the last valid state.

    The switches turn off one part each: the mistakes of a student's run_rnn."""
    B, T, _ = x.shape
    outputs = []
    for t in range(T):
        new = step(x[:, t], state)
        valid = ((t <= lengths) if off_by_one else (t < lengths)).unsqueeze(-1)  # (B, 1)
        if not use_lengths:
            valid = torch.ones_like(valid)
        state = new if (state is None or not freeze_state) else where_state(valid, new, state)
        h = state_h(new if not freeze_state else state)
        outputs.append(torch.where(valid, h, torch.zeros_like(h)) if zero_outputs else h)
    return torch.stack(outputs, dim=1), state
