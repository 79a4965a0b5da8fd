"""Public checks for 03_rnns_sequences: the names exist and return the right shapes.

Run them with `grade check 03_rnns_sequences.ipynb`. The grader's hidden tests also
check the values: your cells against nn.LSTMCell and nn.GRUCell with copied weights,
run_rnn against pack_padded_sequence + nn.LSTM, your encoder-decoder against a
reference model with the same weights, and the accuracy of your trained model.
"""

import torch

from grader.checks.tensors import assert_tensor, unpack


def test_public_lstm_cell_shapes(student):
    """LSTMCell(5, 7) maps x (3, 5) and a state (h, c) of (3, 7) each to a new (h, c) of (3, 7) each."""
    g = torch.Generator().manual_seed(1)
    x, h, c = torch.randn(3, 5, generator=g), torch.randn(3, 7, generator=g), torch.randn(3, 7, generator=g)
    call = "LSTMCell(5, 7)(x, (h, c)) with x (3, 5), h and c (3, 7)"
    new_h, new_c = unpack(student.LSTMCell(5, 7)(x, (h, c)), ("h", "c"), what=call)
    assert_tensor(new_h, what=f"h returned by {call}", shape=(3, 7))
    assert_tensor(new_c, what=f"c returned by {call}", shape=(3, 7))


def test_public_gru_cell_shapes(student):
    """GRUCell(5, 7) maps x (3, 5) and h (3, 7) to a new h (3, 7)."""
    g = torch.Generator().manual_seed(2)
    x, h = torch.randn(3, 5, generator=g), torch.randn(3, 7, generator=g)
    assert_tensor(student.GRUCell(5, 7)(x, h), what="GRUCell(5, 7)(x, h) with x (3, 5), h (3, 7)", shape=(3, 7))


def test_public_run_rnn_shapes(student):
    """run_rnn(LSTMCell(5, 7), x (3, 4, 5), lengths) returns outputs (3, 4, 7) and a state (h, c)."""
    x = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(3))  # (B, T, D)
    lengths = torch.tensor([4, 2, 3])
    call = "run_rnn(LSTMCell(5, 7), x, lengths) with x (3, 4, 5), lengths [4, 2, 3]"
    outputs, state = unpack(student.run_rnn(student.LSTMCell(5, 7), x, lengths), ("outputs", "state"), what=call)
    assert_tensor(outputs, what=f"the outputs of {call}", shape=(3, 4, 7))
    h, c = unpack(state, ("h", "c"), what=f"the state returned by {call}")
    assert_tensor(h, what=f"h of the state returned by {call}", shape=(3, 7))
    assert_tensor(c, what=f"c of the state returned by {call}", shape=(3, 7))


def test_public_seq2seq_shapes(student):
    """Seq2Seq(11, 8, 16)(src (2, 5), tgt_in (2, 4)) gives logits (2, 4, 11); greedy_decode gives (2, 5) tokens."""
    g = torch.Generator().manual_seed(4)
    src, tgt_in = torch.randint(0, 10, (2, 5), generator=g), torch.randint(0, 11, (2, 4), generator=g)
    model = student.Seq2Seq(11, 8, 16)
    assert_tensor(model(src, tgt_in), what="Seq2Seq(11, 8, 16)(src, tgt_in) with src (2, 5), tgt_in (2, 4)",
                  shape=(2, 4, 11))
    assert_tensor(student.decoder_inputs(src), what="decoder_inputs(tgt) with tgt (2, 5)", shape=(2, 5))
    tokens = student.greedy_decode(model, src, 5)
    assert_tensor(tokens, what="greedy_decode(model, src, 5) with src (2, 5)", shape=(2, 5))
    assert not tokens.is_floating_point(), f"greedy_decode returned {tokens.dtype} values; return token ids (long)"
