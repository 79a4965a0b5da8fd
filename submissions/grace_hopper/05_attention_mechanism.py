"""05 - attention mechanism, handed in as a module (Grace Hopper).

Same three names as the notebook. Heads are split with unflatten/permute, the
scale is applied to the queries, and masking uses torch.where.
"""

import math

import torch
import torch.nn as nn


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(QK^T / sqrt(d_k)) V, Vaswani et al. 2017, eq. 1; returns (output, weights)."""
    q = q * q.size(-1) ** -0.5  # scaling q is cheaper than scaling the (T, S) scores
    scores = q @ k.mT  # (..., T, S)
    if mask is not None and mask.dtype == torch.bool:
        scores = torch.where(mask, scores, torch.tensor(float("-inf"), dtype=scores.dtype))
    elif mask is not None:
        scores = scores + mask
    weights = scores.softmax(-1)
    return weights @ v, weights


def causal_mask(size):
    """True where query i may see key j, i.e. j <= i."""
    positions = torch.arange(size)
    return positions.unsqueeze(1) >= positions.unsqueeze(0)


class MultiHeadAttention(nn.Module):
    """Concat(head_1, ..., head_h) W^O, Vaswani et al. 2017, sec. 3.2.2."""

    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads:
            raise ValueError("num_heads must divide d_model")
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def _heads(self, x):
        """(B, L, d_model) -> (B, h, L, d_k)"""
        return x.unflatten(-1, (self.num_heads, self.d_k)).permute(0, 2, 1, 3)

    def forward(self, query, key, value, mask=None):
        q, k, v = self._heads(self.w_q(query)), self._heads(self.w_k(key)), self._heads(self.w_v(value))
        out, weights = scaled_dot_product_attention(q, k, v, mask=mask)  # (B, h, T, d_k)
        out = out.permute(0, 2, 1, 3).flatten(-2)  # (B, T, h * d_k)
        return self.w_o(out), weights


if __name__ == "__main__":
    x = torch.randn(2, 5, 16)
    out, w = MultiHeadAttention(16, 4)(x, x, x, mask=causal_mask(5))
    print(out.shape, w.shape, math.isclose(w.sum(-1).mean().item(), 1.0, rel_tol=1e-6))
