"""Public checks for 05_attention_mechanism: the names exist and return the right shapes.

Run them with `grade check 05_attention_mechanism.ipynb`. The grader's hidden tests
also check the values: batches, masks, keys and queries of different lengths, and
your multi-head attention against nn.MultiheadAttention.
"""

import torch

from grader.checks.tensors import assert_tensor, unpack


def test_public_sdpa_shapes(student):
    """scaled_dot_product_attention(q, k, v) returns (output (B, T, d_v), weights (B, T, S))."""
    g = torch.Generator().manual_seed(5)
    q = torch.randn(2, 3, 4, generator=g)  # (B, T, d_k)
    k = torch.randn(2, 5, 4, generator=g)  # (B, S, d_k)
    v = torch.randn(2, 5, 6, generator=g)  # (B, S, d_v)
    call = "scaled_dot_product_attention(q, k, v) with q (2, 3, 4), k (2, 5, 4), v (2, 5, 6)"
    output, weights = unpack(student.scaled_dot_product_attention(q, k, v), ("output", "weights"), what=call)
    assert_tensor(weights, what=f"the weights of {call}", shape=(2, 3, 5))
    assert_tensor(output, what=f"the output of {call}", shape=(2, 3, 6))


def test_public_causal_mask(student):
    """causal_mask(4) is a (4, 4) boolean tensor."""
    assert_tensor(student.causal_mask(4), what="causal_mask(4)", shape=(4, 4), dtype=torch.bool)


def test_public_mha_shapes(student):
    """MultiHeadAttention(16, 4) maps (B, T, 16) to output (B, T, 16) and per-head weights (B, 4, T, T)."""
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(6))  # (B, T, d_model)
    mha = student.MultiHeadAttention(16, 4)
    call = "MultiHeadAttention(16, 4)(x, x, x) with x (2, 5, 16)"
    output, weights = unpack(mha(x, x, x), ("output", "weights"), what=call)
    assert_tensor(output, what=f"the output of {call}", shape=(2, 5, 16))
    assert_tensor(weights, what=f"the weights of {call} (one (T, S) map per head)", shape=(2, 4, 5, 5))
