"""Public checks for 02_cnns_basics: the names exist and return the right shapes.

Run them with `grade check 02_cnns_basics.ipynb`. The grader's hidden tests also check the
values: your conv2d and max_pool2d against torch.nn.functional with strides and padding,
forward and backward, your SmallCNN with the grader's weights and over a few training steps,
inspection_model's accuracy on new parts, and your transfer model's frozen backbone, optimizer
and a few training steps.
"""

import torch

from grader.checks.tensors import assert_tensor


def test_public_output_shape(student):
    """conv_output_shape(16, 16, 3) is (14, 14); conv_output_shape(8, 8, 2, stride=2) is (4, 4)."""
    for args, kwargs, expected in (((16, 16, 3), {}, (14, 14)), ((8, 8, 2), {"stride": 2}, (4, 4))):
        call = f"conv_output_shape{args}" if not kwargs else f"conv_output_shape(8, 8, 2, stride=2)"
        got = student.conv_output_shape(*args, **kwargs)
        assert isinstance(got, (tuple, list)) and tuple(got) == expected, f"{call} returned {got!r}, expected {expected}"


def test_public_conv2d_shapes(student):
    """conv2d(x (2, 3, 8, 8), weight (4, 3, 3, 3)) has shape (2, 4, 6, 6)."""
    g = torch.Generator().manual_seed(1)
    x, weight = torch.randn(2, 3, 8, 8, generator=g), torch.randn(4, 3, 3, 3, generator=g)
    assert_tensor(student.conv2d(x, weight), what="conv2d(x, weight) with x (2, 3, 8, 8), weight (4, 3, 3, 3)",
                  shape=(2, 4, 6, 6))


def test_public_max_pool_shapes(student):
    """max_pool2d(x (2, 3, 8, 6), 2, stride=2) has shape (2, 3, 4, 3)."""
    x = torch.randn(2, 3, 8, 6, generator=torch.Generator().manual_seed(2))
    assert_tensor(student.max_pool2d(x, 2, stride=2), what="max_pool2d(x, 2, stride=2) with x (2, 3, 8, 6)",
                  shape=(2, 3, 4, 3))


def test_public_cnn_shapes(student):
    """SmallCNN() maps (4, 1, 16, 16) images to (4, 2) logits."""
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    assert_tensor(student.SmallCNN()(x), what="SmallCNN()(x) with x (4, 1, 16, 16)", shape=(4, 2))


def test_public_transfer_shapes(student):
    """TransferModel(backbone, 64, 3) maps (5, 1, 16, 16) to (5, 3) with a backbone whose output is (5, 4, 4, 4)."""
    nn = student.torch.nn  # a backbone built from PyTorch's own layers, inside your notebook's kernel
    backbone = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4))
    x = torch.randn(5, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    model = student.TransferModel(backbone, 64, 3)
    assert_tensor(model(x), what="TransferModel(backbone, 64, 3)(x) with x (5, 1, 16, 16)", shape=(5, 3))
