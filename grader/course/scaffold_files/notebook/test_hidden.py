"""Hidden checks for $assignment, run in the trusted grader process.

Student code is reached only through the `student` fixture; the expected values come from
the reference notebook (the `reference` fixture) and from PyTorch, computed here. A wrong
answer is compared with the known mistakes, so the message can say which one it looks like.
reference/$assignment/mutants.yaml lists which mistake fails which test.
"""

import torch

from grader.checks.selfcheck import self_check
from grader.checks.tensors import assert_close, is_close


def test_softmax_matches_reference(student, reference):
    """softmax over the last dimension of a batch of rows."""
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))  # (B, n)
    expected = reference.softmax(x)
    self_check(is_close(expected, torch.softmax(x, dim=-1)), "reference vs torch.softmax")
    assert_close(student.softmax(x), expected, what="softmax(x) with x (3, 5)",
                 diagnoses={"it looks like a softmax over the first dimension (dim=0), not the last":
                            torch.softmax(x, dim=0)})


def test_softmax_is_stable(student, reference):
    """Large scores must not overflow: softmax(x) = softmax(x - max x)."""
    x = torch.tensor([[1000.0, 1001.0, 1002.0], [-5.0, 0.0, 5.0]])  # (2, 3)
    assert_close(student.softmax(x), reference.softmax(x), what="softmax(x) with scores near 1000")
