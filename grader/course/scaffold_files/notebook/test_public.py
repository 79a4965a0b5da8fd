"""Public checks for $assignment: the names exist and return the right shapes.

Run them with `grade check $notebook`. The grader's hidden tests also check the values.
"""

import torch

from grader.checks.tensors import assert_tensor


def test_public_softmax_shape(student):
    """softmax(x) keeps the shape of x: one distribution per row."""
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(1))  # (B, n)
    assert_tensor(student.softmax(x), what="softmax(x) with x (2, 4)", shape=(2, 4))
