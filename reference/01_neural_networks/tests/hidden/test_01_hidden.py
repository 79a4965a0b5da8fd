"""Hidden checks for 01_neural_networks, run in the trusted grader process.

Student code is reached only through the `student` fixture. Expected values come from the
reference notebook and from PyTorch computed here: autograd for the gradients,
F.cross_entropy / F.mse_loss for the losses, torch.optim.SGD for the training steps. Wrong
answers are compared with the known mistakes, computed here too, so that the message can
say which one it looks like.

Tolerances: everything runs in float32 on small inputs, where correct implementations
written differently (matmul vs einsum, one-hot vs gather, optimizer vs a hand-written
update) agree to ~1e-6, while the mistakes change values by 1e-2 or more: the defaults of
grader.checks.tensors (atol 1e-5 + rtol 1e-4 * |expected|) sit between the two. The losses
on logits in the thousands are compared with the same relative tolerance (1e-4 of ~1e3).

Beyond the defaults: the MLP's and the losses' gradients are taken in the student's kernel
(torch.autograd.functional on their own functions; not torch.func, whose first call imports
torch._dynamo, seconds per kernel), so a .detach(), .data,
torch.no_grad() or a tensor rebuilt from numbers shows, and so does a loss that changes its
argument in place (autograd refuses it on a leaf that requires a gradient); backprop runs on
a larger and a tiny network and on a batch where classes are absent; train runs with another
learning rate, number of epochs and number of classes.

One mistake costs points once: a test accepts (`alternatives=`) the wrong values another
test already penalises. The bias and hidden-layer gradient tests accept gradients N times
too large (a missing 1/N is test_backprop_dW2's job), db1 accepts a missing ReLU derivative
(test_backprop_dW1's job), the gradient tests accept the gradients of the wrong values the
value tests catch (a wrong activation, a wrong loss), test_train_other_settings accepts the
mistakes test_train_sgd_updates diagnoses, and the train tests run on a model built from
PyTorch's own layers, so a wrong MLP cannot fail them. A wrong core computation also fails
its part's core test, so that it costs at least half of the part (the rubric's weights):
test_backprop_matches_autograd accepts no wrong gradient, and the large-logits test no wrong
cross-entropy. tests/fixtures/mutants/01_neural_networks/mutants.yaml lists which mistake
fails which test.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.checks.selfcheck import self_check
from grader.checks.tensors import assert_close, assert_tensor, is_close, shape_text, unpack
from grader.kernel.bridge import StudentCodeError

GRADS = ("dW1", "db1", "dW2", "db2")


# -- the MLP ----------------------------------------------------------------------------

def mlp_parameters(sizes, seed):
    """Weights for MLP(sizes) under the names the notebook asks for, drawn here so no student chooses them."""
    g = torch.Generator().manual_seed(seed)
    parameters = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1 / math.sqrt(n_in)
        parameters[f"layers.{i}.weight"] = (torch.rand(n_out, n_in, generator=g) * 2 - 1) * bound
        parameters[f"layers.{i}.bias"] = (torch.rand(n_out, generator=g) * 2 - 1) * bound
    return parameters


def mlp_forward(parameters, x, *, activation=torch.relu, on_output=False):
    """The MLP with the knobs students get wrong: the hidden activation, and one on the output."""
    count = len(parameters) // 2
    for i in range(count):
        x = F.linear(x, parameters[f"layers.{i}.weight"], parameters[f"layers.{i}.bias"])
        if i < count - 1 or on_output:
            x = activation(x)
    return x


def mlp_variants(parameters, x):
    """Wrong activations, keyed by the sentence that explains them."""
    return {
        "a ReLU is applied to the output layer too; the last layer's outputs are logits, leave them as they are":
            mlp_forward(parameters, x, on_output=True),
        "there is no activation between the layers; apply torch.relu after every layer but the last":
            mlp_forward(parameters, x, activation=lambda z: z),
        "the hidden activation is a sigmoid; use the ReLU, torch.relu": mlp_forward(parameters, x, activation=torch.sigmoid),
        "the hidden activation is tanh; use the ReLU, torch.relu": mlp_forward(parameters, x, activation=torch.tanh),
    }


def check_mlp_parameters(state, sizes, *, loading=False):
    call = f"MLP({list(sizes)}).state_dict()"
    expected = list(mlp_parameters(sizes, 0))
    why = "; the grader loads its own weights into them by name, so it cannot run this check" if loading else ""
    assert isinstance(state, dict), f"{call} returned a {type(state).__name__}: is MLP an nn.Module?"
    assert list(state) == expected, (
        f"{call} has the parameters {list(state) or 'none'}; expected {expected}: one nn.Linear(sizes[i], "
        f"sizes[i + 1]) per pair of consecutive sizes, {len(sizes) - 1} in all, in self.layers = "
        f"nn.ModuleList([...]){why}"
    )
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        assert_tensor(state[f"layers.{i}.weight"], what=f"{call}['layers.{i}.weight']", shape=(n_out, n_in))
        assert_tensor(state[f"layers.{i}.bias"], what=f"{call}['layers.{i}.bias']", shape=(n_out,))


def loaded_mlp(student, sizes, seed):
    """The student's MLP with our weights loaded (and checked to be loaded), in eval mode."""
    mlp = student.MLP(list(sizes))
    check_mlp_parameters(mlp.state_dict(), sizes, loading=True)
    parameters = mlp_parameters(sizes, seed)
    mlp.load_state_dict(parameters)
    mlp.eval()  # a student's dropout must not change the verdict
    back = mlp.state_dict()
    assert all(is_close(back[name], value, atol=0, rtol=0) for name, value in parameters.items()), (
        "after load_state_dict the parameters are not the ones loaded; do not override load_state_dict or state_dict"
    )
    return mlp, parameters


def reference_mlp(reference, sizes, parameters):
    model = reference.MLP(list(sizes))
    model.load_state_dict(parameters)
    return model


def test_mlp_parameters(student):
    """MLP([4, 8, 3]) holds exactly two nn.Linear layers in self.layers: (8, 4) and (3, 8) weights, with biases."""
    check_mlp_parameters(student.MLP([4, 8, 3]).state_dict(), (4, 8, 3))


def test_mlp_forward_matches_reference(student, reference):
    """MLP([4, 8, 3]) with the grader's weights gives the reference logits on a batch of 6."""
    sizes = (4, 8, 3)
    mlp, parameters = loaded_mlp(student, sizes, 11)
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(12))  # (N, D)
    with torch.no_grad():
        expected = reference_mlp(reference, sizes, parameters)(x)
    self_check(is_close(expected, mlp_forward(parameters, x)), "reference MLP vs F.linear")
    assert_close(mlp(x), expected, what=f"the logits of MLP({list(sizes)})(x) with x {shape_text(x.shape)}",
                 diagnoses=mlp_variants(parameters, x))


def test_mlp_any_depth(student, reference):
    """MLP([3, 2]) is a single linear layer and MLP([3, 5, 6, 7, 2]) has three hidden layers.

    A wrong activation is test_mlp_forward_matches_reference's job: here it passes."""
    for sizes, seed in (((3, 2), 21), ((3, 5, 6, 7, 2), 22)):
        mlp, parameters = loaded_mlp(student, sizes, seed)
        x = torch.randn(4, 3, generator=torch.Generator().manual_seed(seed + 100))
        with torch.no_grad():
            expected = reference_mlp(reference, sizes, parameters)(x)
        assert_close(mlp(x), expected, what=f"the logits of MLP({list(sizes)})(x) with x {shape_text(x.shape)}",
                     alternatives=list(mlp_variants(parameters, x).values()))


def in_place_error(error, what, argument):
    """An AssertionError that explains autograd's complaint about an in-place change of an argument, else None."""
    if "in-place" not in str(error):
        return None
    return AssertionError(
        f"{what} changes its argument `{argument}` in place (`-=`, `+=`, `.sub_()`, ... on it), so autograd refuses "
        f"it as soon as `{argument}` requires a gradient, and the caller's tensor is no longer what it was; compute "
        f"a new tensor instead (`{argument} - m`, not `{argument} -= m`). PyTorch said: {error}"
    )


def cut_graph_check(jacobians, expected, what, remedy):
    """A Jacobian that is all zeros where autograd's is not: something cut the graph."""
    for name, value in jacobians.items():
        if (isinstance(value, torch.Tensor) and tuple(value.shape) == tuple(expected[name].shape)
                and not bool(value.abs().gt(0).any()) and bool(expected[name].abs().gt(0).any())):
            raise AssertionError(f"{what}: no gradient reaches {name}; {remedy}")


def test_mlp_gradients(student):
    """Autograd reaches the input through MLP([4, 8, 3]): the Jacobian of its logits with respect to x equals PyTorch's
    own layers' (nothing in forward may .detach(), use .data of an activation or run under torch.no_grad()).

    A wrong activation is test_mlp_forward_matches_reference's job: its Jacobian passes here."""
    sizes = (4, 8, 3)
    mlp, parameters = loaded_mlp(student, sizes, 13)
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(14))
    what = f"the Jacobian of MLP({list(sizes)})(x) with respect to x {shape_text(x.shape)} (autograd)"
    jacobian = student.torch.autograd.functional.jacobian(mlp, x)  # classic autograd: no torch.func in the kernel

    def jacobian_of(**knobs):
        return torch.autograd.functional.jacobian(lambda z: mlp_forward(parameters, z, **knobs), x)

    expected = jacobian_of()
    variants = [jacobian_of(on_output=True), jacobian_of(activation=lambda z: z),
                jacobian_of(activation=torch.sigmoid), jacobian_of(activation=torch.tanh)]
    cut_graph_check({"x": jacobian}, {"x": expected}, what,
                    "autograd must see every layer: no .detach(), .data or torch.no_grad() inside forward")
    assert_close(jacobian, expected, what=what, alternatives=variants)


# -- backpropagation by hand ------------------------------------------------------------

def backprop_inputs(seed, N=7, D=4, H=6, C=3):
    """x, y and parameters where about half of the hidden units are off, so the ReLU's derivative matters."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, D, generator=g)
    y = torch.randint(0, C, (N,), generator=g)
    y[:C] = torch.arange(C)  # every class occurs
    params = (torch.randn(D, H, generator=g), 0.5 * torch.randn(H, generator=g),
              torch.randn(H, C, generator=g), 0.5 * torch.randn(C, generator=g))
    return x, y, params


def autograd_gradients(x, y, params):
    leaves = [p.clone().requires_grad_() for p in params]
    W1, b1, W2, b2 = leaves
    F.cross_entropy(torch.relu(x @ W1 + b1) @ W2 + b2, y).backward()
    return tuple(p.grad for p in leaves)


def manual_gradients(x, y, params, *, mean=True, relu_derivative=True, dW2_from_z1=False):
    """The chain rule of the notebook, with the knobs students get wrong."""
    W1, b1, W2, b2 = params
    z1 = x @ W1 + b1
    a1 = torch.relu(z1)
    logits = a1 @ W2 + b2
    dlogits = torch.softmax(logits, dim=1) - F.one_hot(y, logits.size(1)).float()
    if mean:
        dlogits = dlogits / x.size(0)
    dW2 = (z1 if dW2_from_z1 else a1).T @ dlogits
    da1 = dlogits @ W2.T
    dz1 = da1 * (z1 > 0) if relu_derivative else da1
    return x.T @ dz1, dz1.sum(0), dW2, dlogits.sum(0), dz1, dlogits


def student_gradients(student, reference, seed):
    """(student's grads, autograd's grads, inputs) on one batch; a reference/autograd mismatch is ours."""
    x, y, params = backprop_inputs(seed)
    expected = autograd_gradients(x, y, params)
    own = reference.backprop(x, y, *params)
    self_check(all(is_close(a, b) for a, b in zip(own, expected)), "reference backprop vs autograd")
    call = (f"backprop(x, y, W1, b1, W2, b2) with x {shape_text(x.shape)}, W1 {shape_text(params[0].shape)}, "
            f"W2 {shape_text(params[2].shape)}")
    grads = unpack(student.backprop(x, y, *params), GRADS, what=call)
    return grads, expected, (x, y, params), call


def check_bias_sum(grad, name, batch_shape, what):
    """A bias gradient of shape (N, n) is the per-example gradient: the sum over the batch is missing."""
    if isinstance(grad, torch.Tensor) and tuple(grad.shape) == tuple(batch_shape):
        raise AssertionError(
            f"{what}: got shape {shape_text(grad.shape)}, expected {shape_text(batch_shape[1:])}: {name} is missing "
            f"the sum over the batch; the bias is added to every row, so its gradient is the sum of the rows' "
            f"gradients over dim 0"
        )


def test_backprop_dW2(student, reference):
    """dW2 = a1.T @ dlogits, with dlogits = (softmax - onehot) / N, equals autograd's."""
    grads, expected, (x, y, params), call = student_gradients(student, reference, 31)
    N = x.size(0)
    assert_close(grads[2], expected[2], what=f"dW2 from {call} (compared with autograd)", diagnoses={
        f"it is N = {N} times autograd's: the loss is the mean over the batch, so dlogits = (softmax(logits) - "
        "onehot(y)) / N": N * expected[2],
        "dW2 is computed from z1, before the ReLU; the output layer's input is a1 = relu(z1)":
            manual_gradients(x, y, params, dW2_from_z1=True)[2],
        "dW2 is transposed; dW2 = a1.T @ dlogits has W2's shape (H, C)": expected[2].T,
    })


def test_backprop_db2(student, reference):
    """db2 = dlogits.sum(dim=0) equals autograd's (a gradient N times too large is dW2's job)."""
    grads, expected, (x, y, params), call = student_gradients(student, reference, 32)
    what = f"db2 from {call} (compared with autograd)"
    check_bias_sum(grads[3], "db2", (x.size(0), expected[3].size(0)), what)
    assert_close(grads[3], expected[3], what=what, alternatives=[x.size(0) * expected[3]], diagnoses={
        "db2 is the mean of dlogits over the batch; the 1/N is already in dlogits, so sum over dim 0":
            expected[3] / x.size(0),
    })


def test_backprop_dW1(student, reference):
    """dW1 = x.T @ (dlogits @ W2.T * (z1 > 0)) equals autograd's (a missing 1/N is dW2's job)."""
    grads, expected, (x, y, params), call = student_gradients(student, reference, 33)
    N = x.size(0)
    no_relu = manual_gradients(x, y, params, relu_derivative=False)[0]
    assert_close(grads[0], expected[0], what=f"dW1 from {call} (compared with autograd)",
                 alternatives=[N * expected[0]], diagnoses={
        "the ReLU's derivative is missing: multiply da1 = dlogits @ W2.T by (z1 > 0) before going on": no_relu,
        "the ReLU's derivative is missing (and the 1/N)": N * no_relu,
        "dW1 is transposed; dW1 = x.T @ dz1 has W1's shape (D, H)": expected[0].T,
    })


def test_backprop_db1(student, reference):
    """db1 = dz1.sum(dim=0) equals autograd's (given the student's dz1: a missing ReLU derivative is dW1's job)."""
    grads, expected, (x, y, params), call = student_gradients(student, reference, 34)
    N = x.size(0)
    what = f"db1 from {call} (compared with autograd)"
    check_bias_sum(grads[1], "db1", (N, expected[1].size(0)), what)
    no_relu = manual_gradients(x, y, params, relu_derivative=False)[1]
    assert_close(grads[1], expected[1], what=what,
                 alternatives=[N * expected[1], no_relu, N * no_relu], diagnoses={
        "db1 is the mean of dz1 over the batch; the 1/N is already in dlogits, so sum over dim 0":
            expected[1] / N,
    })


def test_backprop_matches_autograd(student, reference):
    """All four gradients equal autograd's on a larger network than the other tests' (N=40, D=6, H=16, C=5) and on a
    tiny one (N=2, D=3, H=2, C=2): the chain rule as a whole, with nothing accepted."""
    for seed, (N, D, H, C) in ((35, (40, 6, 16, 5)), (36, (2, 3, 2, 2))):
        x, y, params = backprop_inputs(seed, N=N, D=D, H=H, C=C)
        expected = autograd_gradients(x, y, params)
        call = (f"backprop(x, y, W1, b1, W2, b2) with x {shape_text(x.shape)}, W1 {shape_text(params[0].shape)}, "
                f"W2 {shape_text(params[2].shape)}")
        grads = unpack(student.backprop(x, y, *params), GRADS, what=call)
        no_mean = manual_gradients(x, y, params, mean=False)
        no_relu = manual_gradients(x, y, params, relu_derivative=False)
        for index, name in enumerate(GRADS):
            what = f"{name} from {call} (compared with autograd)"
            if name.startswith("db"):
                check_bias_sum(grads[index], name, (N, expected[index].size(0)), what)
            assert_close(grads[index], expected[index], what=what, diagnoses={
                f"it is N = {N} times autograd's: the loss is the mean over the batch, so dlogits = (softmax(logits) - "
                "onehot(y)) / N": no_mean[index],
                "the ReLU's derivative is missing: multiply da1 = dlogits @ W2.T by (z1 > 0)": no_relu[index],
            })


def test_backprop_absent_class(student, reference):
    """db2 equals autograd's on a batch where the two largest of C = 4 classes never occur: the one-hot has C columns
    (F.one_hot(y, num_classes=C), C from the logits), not max(y) + 1.

    Mistakes in db2 itself are test_backprop_db2's job: they pass here."""
    x, y, params = backprop_inputs(37, N=6, D=4, H=5, C=4)
    y = torch.tensor([0, 1, 1, 0, 1, 0])  # classes 2 and 3 are absent
    expected = autograd_gradients(x, y, params)
    call = (f"backprop(x, y, W1, b1, W2, b2) with y = {y.tolist()} and W2 {shape_text(params[2].shape)} "
            "(4 classes, the last two absent from the batch)")
    try:
        result = student.backprop(x, y, *params)
    except StudentCodeError as error:
        if "size" not in str(error) and "shape" not in str(error):
            raise
        raise AssertionError(f"{error}; with classes absent from y, F.one_hot(y) makes max(y) + 1 columns, not C: "
                             "give it num_classes=logits.size(1)") from None
    grads = unpack(result, GRADS, what=call)
    dlogits = manual_gradients(x, y, params)[5]
    N = x.size(0)
    assert_close(grads[3], expected[3], what=f"db2 from {call} (compared with autograd)",
                 alternatives=[N * expected[3], expected[3] / N, dlogits, N * dlogits])


# -- loss functions ---------------------------------------------------------------------

def cross_entropy_variants(logits, targets):
    """Wrong cross-entropies, keyed by the sentence that explains them (computed in float64: no overflow here)."""
    z = logits.double()
    m = z.max(dim=1, keepdim=True).values
    correct = z[torch.arange(z.size(0)), targets]
    lse = torch.logsumexp(z, dim=1)
    return {
        "sum": ("it is the sum over the batch, not the mean; divide by N (like F.cross_entropy's default "
                "reduction='mean')", (lse - correct).sum()),
        "no_max_back": ("the log-sum-exp forgets to add the max back: log(sum(exp(x - m))) + m",
                        (torch.log(torch.exp(z - m).sum(dim=1)) - correct).mean()),
        "sign": ("it is minus the cross-entropy; the loss is -log softmax(logits)[target] = logsumexp - "
                 "logits[target], which is >= 0", -(lse - correct).mean()),
        "dim0": ("the softmax runs over the batch (dim 0) instead of the classes (dim 1)",
                 (torch.logsumexp(z, dim=0)[targets] - correct).mean()),
        "classes": ("the sum over the batch is divided by the number of classes C; the mean is over the N rows",
                    (lse - correct).sum() / z.size(1)),
    }


def call_cross_entropy(student, logits, targets):
    what = f"cross_entropy(logits, targets) with logits {shape_text(logits.shape)}"
    return assert_tensor(student.cross_entropy(logits, targets), what=what, shape=()), what


def test_cross_entropy_matches_functional(student):
    """The mean cross-entropy equals F.cross_entropy on two batches (N != C)."""
    for N, C, seed in ((5, 3, 41), (4, 10, 42)):
        g = torch.Generator().manual_seed(seed)
        logits, targets = 3 * torch.randn(N, C, generator=g), torch.randint(0, C, (N,), generator=g)
        actual, what = call_cross_entropy(student, logits, targets)
        variants = cross_entropy_variants(logits, targets)
        assert_close(actual, F.cross_entropy(logits, targets), what=f"{what} (compared with F.cross_entropy)",
                     diagnoses={sentence: value.float() for sentence, value in variants.values()})


def test_cross_entropy_large_logits(student):
    """Logits in the thousands, where exp overflows float32: the log-sum-exp trick keeps the loss finite."""
    g = torch.Generator().manual_seed(43)
    logits = 1000 * torch.randn(6, 4, generator=g)  # (N, C)
    logits[0] = torch.tensor([2000.0, 1999.0, -3000.0, 0.0])  # a near tie between two huge logits
    logits[1] = torch.tensor([-2000.0, -2001.0, -2500.0, -2002.0])  # every logit very negative
    targets = torch.tensor([1, 0, 2, 3, 1, 0])
    expected = F.cross_entropy(logits, targets)
    self_check(bool(torch.isfinite(expected)), "F.cross_entropy on large logits")
    actual, what = call_cross_entropy(student, logits, targets)
    what = f"{what} and values up to {logits.abs().max().item():.0f}"
    if not bool(torch.isfinite(actual)):
        raise AssertionError(
            f"{what}: returned {actual.item()}, expected {expected.item():.6g}: exp(x) overflows float32 for x > 88 "
            "(inf, and inf/inf is nan) and underflows to 0 for x < -103 (log 0 = -inf); subtract each row's "
            "largest logit before the exp (the log-sum-exp trick) and add it back after the log"
        )
    variants = cross_entropy_variants(logits, targets)  # wrong here too: the log-sum-exp is this part's core
    assert_close(actual, expected, what=f"{what} (compared with F.cross_entropy)",
                 diagnoses={sentence: value.float() for sentence, value in variants.values()})


def cross_entropy_variant_functions(targets):
    """The mistakes of cross_entropy_variants as functions of the logits, to differentiate."""
    def lse(z):
        return torch.logsumexp(z, dim=1)

    def correct(z):
        return z[torch.arange(z.size(0)), targets]

    def no_max_back(z):
        m = z.max(dim=1, keepdim=True).values
        return (torch.log(torch.exp(z - m).sum(dim=1)) - correct(z)).mean()

    return [lambda z: (lse(z) - correct(z)).sum(), no_max_back, lambda z: -(lse(z) - correct(z)).mean(),
            lambda z: (torch.logsumexp(z, dim=0)[targets] - correct(z)).mean(),
            lambda z: (lse(z) - correct(z)).sum() / z.size(1)]


def gradient_of(function, z):
    """The gradient of the scalar function(z) with respect to z, by autograd here."""
    leaf = z.clone().requires_grad_()
    function(leaf).backward()
    return leaf.grad


def student_gradient(student, name, first, second, what):
    """The gradient of the student's loss `name` with respect to its first argument, taken in their kernel by
    torch.autograd.functional.vjp on the function with its second argument bound by name (functools.partial)."""
    function = getattr(student, name)
    try:
        attrgetter = student.torch.functional.operator.attrgetter
        partial = student.torch.nn.modules.module.functools.partial
        vjp = student.torch.autograd.functional.vjp
    except StudentCodeError as error:
        raise RuntimeError(f"grader self-check failed (operator, functools or torch.autograd.functional not reachable "
                           f"in the sandbox: {error}); this is not your mistake: tell the course staff") from None
    arguments = attrgetter("__code__.co_varnames")(function)
    try:
        result = vjp(partial(function, **{arguments[1]: second}), first)
    except StudentCodeError as error:
        raise in_place_error(error, what, arguments[0]) or error from None
    return unpack(result, ("loss", "gradient"), what=f"torch.autograd.functional.vjp of {what}")[1]


def test_cross_entropy_gradient(student):
    """The gradient of cross_entropy(logits, targets) with respect to the logits is F.cross_entropy's: the loss
    stays in autograd's graph (no .detach(), .item() or torch.tensor(...) rebuilt from numbers) and the caller's
    logits are not changed in place.

    Wrong loss values are the other cross-entropy tests' job: their gradients pass here."""
    g = torch.Generator().manual_seed(44)
    logits, targets = 3 * torch.randn(6, 4, generator=g), torch.tensor([3, 0, 1, 3, 2, 0])
    what = f"cross_entropy(logits, targets) with logits {shape_text(logits.shape)}"
    gradient = student_gradient(student, "cross_entropy", logits, targets, what)
    expected = gradient_of(lambda z: F.cross_entropy(z, targets), logits)
    cut_graph_check({"logits": gradient}, {"logits": expected}, what,
                    "the loss must stay in autograd's graph: no .detach(), .item(), float(...) or torch.tensor(...) "
                    "built from numbers on the way")
    variants = [gradient_of(variant, logits) for variant in cross_entropy_variant_functions(targets)]
    assert_close(gradient, expected, what=f"the gradient of {what} with respect to the logits (compared with "
                 "F.cross_entropy's)", alternatives=variants)


def test_mse_matches_functional(student):
    """The mean over all elements of (pred - target)^2 equals F.mse_loss, for a (4, 3) and a (7,) input."""
    g = torch.Generator().manual_seed(51)
    for shape in ((4, 3), (7,)):
        pred, target = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        what = f"mse_loss(pred, target) with pred and target {shape_text(pred.shape)}"
        actual = student.mse_loss(pred, target)
        if isinstance(actual, torch.Tensor) and actual.dim() > 0:
            raise AssertionError(f"{what}: got shape {shape_text(actual.shape)}, expected a 0-dim tensor: take the "
                                 "mean over all elements (.mean() with no dim), not over one dimension")
        difference = pred - target
        assert_close(actual, F.mse_loss(pred, target), what=f"{what} (compared with F.mse_loss)", diagnoses={
            "it is the sum of the squared errors; take the mean": (difference ** 2).sum(),
            "it is the root of the mean squared error (RMSE); do not take the square root":
                (difference ** 2).mean().sqrt(),
            "it is the mean absolute error; square the differences": difference.abs().mean(),
            "the differences are not squared; mean((pred - target) ** 2)": difference.mean(),
        })


def test_mse_gradient(student):
    """The gradient of mse_loss(pred, target) with respect to pred is F.mse_loss's, 2 (pred - target) / M, on a
    (3, 5) input: no .detach() or .item(), and the caller's pred is not changed in place.

    Wrong loss values are test_mse_matches_functional's job: their gradients pass here."""
    g = torch.Generator().manual_seed(52)
    pred, target = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    what = f"mse_loss(pred, target) with pred and target {shape_text(pred.shape)}"
    gradient = student_gradient(student, "mse_loss", pred, target, what)
    expected = gradient_of(lambda p: F.mse_loss(p, target), pred)
    cut_graph_check({"pred": gradient}, {"pred": expected}, what,
                    "the loss must stay in autograd's graph: no .detach(), .item() or torch.tensor(...) on the way")
    variants = [gradient_of(variant, pred) for variant in (
        lambda p: ((p - target) ** 2).sum(), lambda p: ((p - target) ** 2).mean().sqrt(),
        lambda p: (p - target).abs().mean(), lambda p: (p - target).mean())]
    assert_close(gradient, expected, what=f"the gradient of {what} with respect to pred (compared with "
                 "F.mse_loss's)", alternatives=variants)


# -- the training loop ------------------------------------------------------------------

def classifier_parameters(sizes, seed):
    """Weights for nn.Sequential(Linear, ReLU, Linear, ...) under its names (0.weight, 0.bias, 2.weight, ...)."""
    renamed = {}
    for name, value in mlp_parameters(sizes, seed).items():  # layers.i.kind -> (2i).kind: a ReLU sits between
        _, index, kind = name.split(".")
        renamed[f"{2 * int(index)}.{kind}"] = value
    return renamed


def student_classifier(student, sizes, seed):
    """A classifier built from PyTorch's own layers inside the student's kernel, with our weights:
    train is graded on its own, whatever the student's MLP does."""
    nn_remote = student.torch.nn
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn_remote.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn_remote.ReLU())
    model = nn_remote.Sequential(*layers)
    parameters = classifier_parameters(sizes, seed)
    model.load_state_dict(parameters)
    return model, parameters


def sgd_reference(sizes, parameters, X, y, epochs, lr, *, zero_grad=True, ascent=False, momentum=0.0):
    """(parameters after `epochs` full-batch SGD steps, losses before each step), with the knobs students get wrong."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(n_in, n_out)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    model = nn.Sequential(*layers)
    model.load_state_dict(parameters)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, maximize=ascent, momentum=momentum)
    losses = []
    for _ in range(epochs):
        if zero_grad:
            optimizer.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return {name: value.detach().clone() for name, value in model.state_dict().items()}, losses


def test_train_sgd_updates(student, reference):
    """After train(model, X, y, epochs=3, lr=0.5) the parameters are exactly those of 3 full-batch SGD steps."""
    sizes, epochs, lr = (2, 8, 2), 3, 0.5
    X, y = reference.make_moons(20, noise=0.1, seed=61)
    model, parameters = student_classifier(student, sizes, 62)
    student.train(model, X, y, epochs=epochs, lr=lr)
    after = model.state_dict()
    expected, _ = sgd_reference(sizes, parameters, X, y, epochs, lr)
    if all(is_close(after.get(name), value, atol=0, rtol=0) for name, value in parameters.items()):
        raise AssertionError(f"train(model, X, y, epochs={epochs}, lr={lr}) did not change the model's parameters: "
                             "is optimizer.step() missing, or called before loss.backward()?")
    variants = {
        "the gradients are never cleared, so each step uses the sum of all earlier gradients: call "
        "optimizer.zero_grad() in every epoch, before loss.backward()":
            sgd_reference(sizes, parameters, X, y, epochs, lr, zero_grad=False)[0],
        f"the parameters are those after {epochs - 1} steps: does the loop run `epochs` times?":
            sgd_reference(sizes, parameters, X, y, epochs - 1, lr)[0],
        f"the parameters are those after {epochs + 1} steps: does the loop run `epochs` times?":
            sgd_reference(sizes, parameters, X, y, epochs + 1, lr)[0],
        "the parameters moved up the gradient (gradient ascent); p <- p - lr * grad":
            sgd_reference(sizes, parameters, X, y, epochs, lr, ascent=True)[0],
        "the updates carry momentum; the exercise asks for plain gradient descent, torch.optim.SGD(model.parameters(), "
        "lr=lr) with no momentum": sgd_reference(sizes, parameters, X, y, epochs, lr, momentum=0.9)[0],
    }
    for name, value in expected.items():
        assert_close(after.get(name), value,
                     what=f"model.state_dict()['{name}'] after train(model, X, y, epochs={epochs}, lr={lr}) "
                          "(compared with torch.optim.SGD, full batch, no momentum)",
                     diagnoses={sentence: wrong[name] for sentence, wrong in variants.items()})


def test_train_other_settings(student, reference):
    """train(model, X, y, epochs=5, lr=0.05) on 3 classes and a larger batch: the parameters are those of 5 full-batch
    SGD steps at that learning rate, whatever the notebook's own example uses (epochs and lr are arguments).

    The mistakes test_train_sgd_updates diagnoses (no zero_grad, a step too many or too few, ascent, momentum,
    no step at all) are its job: they pass here."""
    sizes, epochs, lr = (2, 6, 3), 5, 0.05
    X, y = reference.make_moons(30, noise=0.2, seed=63)
    X, y = torch.cat([X, X[:20] + torch.tensor([2.5, 1.0])]), torch.cat([y, torch.full((20,), 2)])  # a third class
    model, parameters = student_classifier(student, sizes, 64)
    call = f"train(model, X, y, epochs={epochs}, lr={lr}) with X {shape_text(X.shape)} and 3 classes"
    student.train(model, X, y, epochs=epochs, lr=lr)
    after = model.state_dict()
    expected, _ = sgd_reference(sizes, parameters, X, y, epochs, lr)
    accepted = [parameters,
                sgd_reference(sizes, parameters, X, y, epochs, lr, zero_grad=False)[0],
                sgd_reference(sizes, parameters, X, y, epochs - 1, lr)[0],
                sgd_reference(sizes, parameters, X, y, epochs + 1, lr)[0],
                sgd_reference(sizes, parameters, X, y, epochs, lr, ascent=True)[0],
                sgd_reference(sizes, parameters, X, y, epochs, lr, momentum=0.9)[0]]
    if any(all(is_close(after.get(name), variant[name]) for name in expected) for variant in accepted):
        return
    fixed = {f"the parameters moved as with lr={other}, not the lr={lr} passed in: use the `lr` argument":
             sgd_reference(sizes, parameters, X, y, epochs, other)[0] for other in (0.5, 0.1, 0.01, 1.0)}
    for name, value in expected.items():
        assert_close(after.get(name), value,
                     what=f"model.state_dict()['{name}'] after {call} (compared with torch.optim.SGD at lr={lr}, "
                          "full batch, no momentum)",
                     diagnoses={sentence: wrong[name] for sentence, wrong in fixed.items()})


def test_train_loss_history(student, reference):
    """train returns one loss per epoch, numbers, the first being the loss of the untrained model."""
    sizes, epochs, lr = (2, 8, 2), 20, 0.5
    X, y = reference.make_moons(20, noise=0.1, seed=71)
    model, parameters = student_classifier(student, sizes, 72)
    call = f"train(model, X, y, epochs={epochs}, lr={lr})"
    losses = student.train(model, X, y, epochs=epochs, lr=lr)
    assert isinstance(losses, list) and len(losses) == epochs, (
        f"{call} returned {type(losses).__name__}"
        + (f" of length {len(losses)}" if isinstance(losses, list) else "") + f"; expected a list of {epochs} losses"
    )
    values = [float(v) if isinstance(v, (int, float)) or (isinstance(v, torch.Tensor) and v.numel() == 1) else None
              for v in losses]
    assert None not in values, f"{call}: every loss must be a number (loss.item()), got {losses[values.index(None)]!r}"
    _, expected = sgd_reference(sizes, parameters, X, y, epochs, lr)
    first, initial = values[0], expected[0]
    assert math.isclose(first, initial, rel_tol=1e-4, abs_tol=1e-5), (
        f"{call}: the first loss is {first:.6g}, but the untrained model's mean cross-entropy on X is {initial:.6g}"
        + ("; it is the loss after the first update: record each loss before optimizer.step()"
           if math.isclose(first, expected[1], rel_tol=1e-4, abs_tol=1e-5) else
           "; is it the mean cross-entropy of model(X) against y?")
    )


def test_train_reaches_target_loss(student, reference):
    """300 epochs at lr 0.5 bring a (2, 32, 2) classifier below a mean cross-entropy of 0.1 on 200 half-moon points.

    The loss is computed here, from the model's own outputs, not taken from train's return value.
    Plain gradient descent reaches about 0.04 from these weights."""
    sizes, epochs, lr, target = (2, 32, 2), 300, 0.5, 0.1
    X, y = reference.make_moons(100, noise=0.1, seed=3)
    model, parameters = student_classifier(student, sizes, 5)
    before = F.cross_entropy(assert_tensor(model(X), what="the model's logits", shape=(200, 2)), y).item()
    student.train(model, X, y, epochs=epochs, lr=lr)
    model.eval()
    logits = assert_tensor(model(X), what="the trained model's logits", shape=(200, 2))
    loss = F.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(1) == y).float().mean().item()
    assert loss < target, (
        f"after train(model, X, y, epochs={epochs}, lr={lr}) the mean cross-entropy on the training data is "
        f"{loss:.4g} (it was {before:.4g} before; training accuracy {accuracy:.2f}); expected below {target}: "
        "every epoch must compute the loss, call loss.backward() and take one optimizer step"
    )
