"""Public checks for 04_transformer_architecture: the names exist and return the right shapes.

Run them with `grade check 04_transformer_architecture.ipynb`. The grader's hidden tests
also check the values: the positional encoding against the formula, the masks, your
layers against nn.TransformerEncoderLayer / nn.TransformerDecoderLayer with copied
weights, your model against one built from PyTorch's layers, causality and padding.
"""

import torch

from grader.checks.tensors import assert_tensor


def test_public_positional_encoding_shape(student):
    """positional_encoding(10, 8) is a (10, 8) float tensor."""
    pe = assert_tensor(student.positional_encoding(10, 8), what="positional_encoding(10, 8)", shape=(10, 8))
    assert pe.is_floating_point(), f"positional_encoding(10, 8) has dtype {pe.dtype}; expected a float tensor"


def test_public_masks_shapes(student):
    """padding_mask gives a (B, S) bool tensor, causal_mask(size) a (size, size) bool tensor."""
    tokens = torch.tensor([[5, 7, 0, 0], [3, 0, 0, 0]])
    assert_tensor(student.padding_mask(tokens, 0), what="padding_mask(tokens, 0) with tokens (2, 4)", shape=(2, 4),
                  dtype=torch.bool)
    assert_tensor(student.causal_mask(4), what="causal_mask(4)", shape=(4, 4), dtype=torch.bool)


def test_public_layers_shapes(student):
    """EncoderLayer(16, 4, 32) maps (2, 5, 16) to (2, 5, 16); DecoderLayer maps tgt (2, 3, 16) to (2, 3, 16)."""
    g = torch.Generator().manual_seed(1)
    src, tgt = torch.randn(2, 5, 16, generator=g), torch.randn(2, 3, 16, generator=g)
    assert_tensor(student.EncoderLayer(16, 4, 32)(src), what="EncoderLayer(16, 4, 32)(src) with src (2, 5, 16)",
                  shape=(2, 5, 16))
    assert_tensor(student.DecoderLayer(16, 4, 32)(tgt, src),
                  what="DecoderLayer(16, 4, 32)(tgt, memory) with tgt (2, 3, 16), memory (2, 5, 16)", shape=(2, 3, 16))


def test_public_transformer_shape(student):
    """TinyTransformer(12, 16, 4, 2, 32)(src (2, 6), tgt_in (2, 5)) gives logits (2, 5, 12)."""
    src = torch.tensor([[3, 4, 5, 6, 0, 0], [7, 8, 9, 10, 11, 3]])
    tgt_in = torch.tensor([[1, 5, 4, 3, 9], [1, 3, 11, 10, 9]])
    model = student.TinyTransformer(12, 16, 4, 2, 32)
    assert_tensor(model(src, tgt_in), what="TinyTransformer(12, 16, 4, 2, 32)(src, tgt_in) with src (2, 6), "
                  "tgt_in (2, 5)", shape=(2, 5, 12))
