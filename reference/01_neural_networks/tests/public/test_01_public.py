"""Public checks for 01_neural_networks: the names exist and return the right shapes and types.

Run them with `grade check 01_neural_networks.ipynb`. The grader's hidden tests also check
the values: your MLP with the grader's weights at several depths, and the gradients through
it; each gradient of `backprop` against autograd, at several sizes and with absent classes;
the losses and their gradients against PyTorch's (also on huge logits); and what your
`train` does to models of the grader's, at several learning rates.
"""

import torch

from grader.checks.tensors import assert_tensor, unpack


def test_public_mlp_shapes(student):
    """MLP([4, 8, 3]) maps (N, 4) to (N, 3) logits."""
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))  # (N, D)
    output = student.MLP([4, 8, 3])(x)
    assert_tensor(output, what="MLP([4, 8, 3])(x) with x (5, 4)", shape=(5, 3))


def test_public_backprop_shapes(student):
    """backprop returns (dW1, db1, dW2, db2), each of the shape of its parameter."""
    g = torch.Generator().manual_seed(2)
    N, D, H, C = 6, 4, 5, 3
    x, y = torch.randn(N, D, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])
    params = {"W1": torch.randn(D, H, generator=g), "b1": torch.randn(H, generator=g),
              "W2": torch.randn(H, C, generator=g), "b2": torch.randn(C, generator=g)}
    call = "backprop(x, y, W1, b1, W2, b2) with x (6, 4), W1 (4, 5), W2 (5, 3)"
    grads = unpack(student.backprop(x, y, *params.values()), ("dW1", "db1", "dW2", "db2"), what=call)
    for (name, param), grad in zip(params.items(), grads):
        assert_tensor(grad, what=f"d{name} from {call} (the gradient has {name}'s shape)", shape=param.shape)


def test_public_losses(student):
    """cross_entropy and mse_loss return 0-dim tensors (the mean over the batch)."""
    g = torch.Generator().manual_seed(3)
    logits, targets = torch.randn(4, 3, generator=g), torch.tensor([0, 2, 1, 2])
    assert_tensor(student.cross_entropy(logits, targets), what="cross_entropy(logits (4, 3), targets (4,))",
                  shape=())
    pred, target = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    assert_tensor(student.mse_loss(pred, target), what="mse_loss(pred (4, 3), target (4, 3))", shape=())


def test_public_train_returns_losses(student):
    """train(model, X, y, epochs=3, lr=0.1) returns a list of 3 Python floats."""
    nn = student.torch.nn  # a model built from PyTorch's own layers, inside your notebook's kernel
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    g = torch.Generator().manual_seed(4)
    X, y = torch.randn(10, 2, generator=g), torch.randint(0, 2, (10,), generator=g)
    losses = student.train(model, X, y, epochs=3, lr=0.1)
    call = "train(model, X, y, epochs=3, lr=0.1)"
    assert isinstance(losses, list), f"{call} returned {type(losses).__name__}; it must return a list of losses"
    assert len(losses) == 3, f"{call} returned {len(losses)} losses; expected one per epoch, 3"
    assert all(isinstance(loss, float) for loss in losses), (
        f"{call} returned {[type(loss).__name__ for loss in losses]}; each loss must be a Python float: append "
        "loss.item(), not the tensor (a tensor keeps the whole graph of its epoch in memory)"
    )
