"""Hidden checks for 02_cnns_basics, run in the trusted grader process.

Student code is reached only through the `student` fixture. Expected values come from the
reference notebook and from torch.nn.functional (conv2d, max_pool2d) computed here. Wrong
answers are compared with the known mistakes, computed here too, so that the message can
say which one it looks like.

Tolerances: float32 on small inputs; a convolution written with unfold + einsum, F.unfold +
matmul or loops sums in a different order than F.conv2d and differs by ~1e-6, while the
mistakes (a flipped kernel, padding on one dimension, an ignored stride) change values by
1e-1 or more: the defaults of grader.checks.tensors (atol 1e-5 + rtol 1e-4 * |expected|)
sit between the two. Max pooling picks input values, so it is compared exactly (atol 0).
Output shapes are ints and compared exactly.

One mistake costs points once across parts: the transfer tests use a backbone built from PyTorch's own
layers, the CNN tests PyTorch's nn.Conv2d and nn.MaxPool2d, not the student's conv2d and max_pool2d. Within
a part, the tests that name a mistake accept the mistakes other tests charge (the stride/padding and bias
tests accept a flipped kernel; a missing freeze and an optimizer over every parameter each fail their own
structural test, and the one-step test passes when either one alone keeps the backbone fixed), and each part
has a test of the whole that a wrong core computation fails as well, so that it costs at least half of the
part (the rubric's weights): test_output_shape_large_and_pairs, test_conv2d_backward, test_max_pool_backward
(their output must match before their gradients are compared), test_cnn_training_steps and
test_transfer_training_steps (several steps, where momentum shows, and the gradients a frozen backbone must
not hold). Gradients are computed in the student's kernel by torch.autograd.functional.vjp through their
own function: a .detach(), .item() or NumPy inside it gives zeros. tests/fixtures/mutants/02_cnns_basics/
mutants.yaml lists which mistake fails which test.
"""

import math

import torch
import torch.nn.functional as F

from grader.checks.selfcheck import self_check
from grader.kernel.bridge import KernelGone, StudentCodeError, StudentTimeout
from grader.checks.tensors import assert_close, assert_tensor, is_close, shape_text


def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def kwargs_text(kwargs):
    return "".join(f", {key}={value!r}" for key, value in kwargs.items())


# -- output shapes ----------------------------------------------------------------------

def output_size(size, k, s, p, d, *, division="floor", pad_sides=2, plus_one=True):
    """One dimension of the output, with the knobs students get wrong."""
    span = size + pad_sides * p - d * (k - 1) - 1
    value = {"floor": span // s, "true": span / s, "ceil": -(-span // s)}[division]
    return value + 1 if plus_one else value


def output_shape(height, width, kernel_size, stride=1, padding=0, dilation=1, **knobs):
    dims = zip((height, width), pair(kernel_size), pair(stride), pair(padding), pair(dilation))
    return tuple(output_size(size, k, s, p, d, **knobs) for size, k, s, p, d in dims)


SHAPE_MISTAKES = {
    "the result is not an integer: use floor division, //, so that a window hanging over the edge is dropped":
        {"division": "true"},
    "it rounds up: use floor division, //; a window that would hang over the edge is dropped": {"division": "ceil"},
    "the padding is counted once; it is added on both sides, so 2 * padding": {"pad_sides": 1},
    "the + 1 is missing (the first window sits at position 0)": {"plus_one": False},
}


def check_output_shape(student, args, kwargs, *, require_int=True, accept=()):
    call = f"conv_output_shape({', '.join(map(repr, args))}{kwargs_text(kwargs)})"
    expected = output_shape(*args, **kwargs)
    weight = torch.zeros(1, 1, *pair(args[2]))
    self_check(tuple(F.conv2d(torch.zeros(1, 1, args[0], args[1]), weight, **kwargs).shape[-2:]) == expected,
               "output shape formula vs F.conv2d")
    got = student.conv_output_shape(*args, **kwargs)
    if isinstance(got, list):
        got = tuple(got)
    if got == expected and (all(type(n) is int for n in got) or not require_int):
        return  # floats that equal the ints are test_output_shape_stride_padding's job
    if any(got == output_shape(*args, **kwargs, **knobs) for knobs in accept):
        return  # a mistake another test charges
    hint = ""
    for sentence, knobs in SHAPE_MISTAKES.items():
        if got == output_shape(*args, **kwargs, **knobs):
            hint = f"\nIt matches a known mistake: {sentence}"
            break
    if got == expected:  # equal values, wrong types (floats)
        hint = ("\nThe values are right here but they are floats: use floor division, //; with / the shape is a "
                "fraction whenever the stride does not divide evenly")
    raise AssertionError(f"{call} returned {got!r}, expected {expected} (ints): floor((H + 2p - d(k - 1) - 1) / s) "
                         f"+ 1 for each dimension{hint}")


def test_output_shape_stride_padding(student):
    """Odd sizes where the floor matters, strides, padding, non-square inputs, and pairs (height, width)."""
    cases = [
        ((7, 9, 3), {"stride": 2, "padding": 1}),
        ((10, 6, 4), {"stride": 3}),
        ((32, 28, 5), {"stride": 2, "padding": 2}),
        ((11, 8, (3, 2)), {"stride": (2, 1), "padding": (1, 0)}),
        ((5, 5, 5), {}),
    ]
    for args, kwargs in cases:
        check_output_shape(student, args, kwargs)


def test_output_shape_dilation(student):
    """A dilation d spreads a kernel of size k over d(k - 1) + 1 pixels (the rounding is the stride test's job)."""
    for args, kwargs in (((16, 16, 3), {"dilation": 2}), ((20, 13, 3), {"stride": 2, "dilation": (3, 1)})):
        check_output_shape(student, args, kwargs, require_int=False,
                           accept=({"division": "true"}, {"division": "ceil"}))


def test_output_shape_large_and_pairs(student):
    """Inputs far larger than the kernel (a 224 x 224 photo through a ResNet's first layer) and every argument a
    pair (height, width) at once, dilation included: each dimension uses its own kernel, stride, padding, dilation."""
    cases = [
        ((224, 224, 7), {"stride": 2, "padding": 3}),
        ((227, 300, (11, 5)), {"stride": (4, 3), "padding": (0, 2), "dilation": (1, 2)}),
        ((64, 45, (3, 5)), {"stride": (3, 2), "padding": (2, 1), "dilation": (2, 3)}),
    ]
    for args, kwargs in cases:
        check_output_shape(student, args, kwargs)


# -- conv2d -----------------------------------------------------------------------------

def conv_inputs(seed, N, C_in, H, W, C_out, kh, kw):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(N, C_in, H, W, generator=g), torch.randn(C_out, C_in, kh, kw, generator=g),
            torch.randn(C_out, generator=g))


def flipped(x, weight, bias=None, **kwargs):
    """A true convolution: the kernel flipped in both spatial dims."""
    return F.conv2d(x, weight.flip(-2, -1), bias, **kwargs)


def backward_in_kernel(student, function, inputs, grad_output, **kwargs):
    """(output, gradients of `inputs`) of the student's `function` for the upstream gradient `grad_output`.

    torch.autograd.functional.vjp runs in the student's kernel, so the backward pass goes through their own code
    (keyword arguments bound there with functools.partial); only tensors come back. A .detach(), .item(), NumPy
    or torch.no_grad() inside the function gives zero gradients."""
    try:
        vjp = student.torch.autograd.functional.vjp
        bound = student.torch.functools.partial(function, **kwargs) if kwargs else function
    except StudentCodeError as error:
        raise RuntimeError(f"grader self-check failed (torch.autograd.functional.vjp not reachable in the sandbox: "
                           f"{error}); this is not your mistake: tell the course staff") from None
    result = vjp(bound, tuple(inputs), grad_output)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], tuple) and len(result[1]) == len(inputs):
        return result
    return None, (None,) * len(inputs)


CUT_FROM_GRAPH = ("is cut out of the autograd graph: no .detach(), .item(), .numpy() or torch.no_grad() on the way "
                  "from it to the output; compute with torch operations on the tensors you were given")


def call_conv(student, reference, x, weight, bias=None, **kwargs):
    expected = F.conv2d(x, weight, bias, **kwargs)
    self_check(is_close(reference.conv2d(x, weight, bias, **kwargs), expected), "reference conv2d vs F.conv2d")
    what = (f"conv2d(x, weight{', bias' if bias is not None else ''}{kwargs_text(kwargs)}) with x "
            f"{shape_text(x.shape)}, weight {shape_text(weight.shape)}")
    return student.conv2d(x, weight, bias, **kwargs), expected, what


def test_conv2d_matches_functional(student, reference):
    """F.conv2d's output for a batch of 2, 3 input and 4 output channels, a non-square input and kernel."""
    x, weight, _ = conv_inputs(11, 2, 3, 7, 9, 4, 3, 2)
    actual, expected, what = call_conv(student, reference, x, weight)
    assert_close(actual, expected, what=f"{what} (compared with F.conv2d)", diagnoses={
        "the kernel is flipped (a true convolution); conv2d in deep learning is a cross-correlation: "
        "multiply each window by the kernel as it is": flipped(x, weight),
        "only the first input channel is used; every output channel sums over all C_in input channels":
            F.conv2d(x[:, :1], weight[:, :1]),
    })


def test_conv2d_stride_padding(student, reference):
    """Strides and zero padding, equal and per dimension: (2, 1) and (1, 2) as (height, width)."""
    x, weight, _ = conv_inputs(12, 2, 3, 8, 7, 5, 3, 3)
    for kwargs in ({"stride": 2, "padding": 1}, {"stride": (2, 1), "padding": (1, 2)}):
        actual, expected, what = call_conv(student, reference, x, weight, **kwargs)
        (sh, sw), (ph, pw) = pair(kwargs["stride"]), pair(kwargs["padding"])
        assert_close(actual, expected, what=f"{what} (compared with F.conv2d)",
                     alternatives=[flipped(x, weight, **kwargs)], diagnoses={
            "the stride is ignored: step the windows by the stride (x.unfold(2, kH, stride_h), ...)":
                F.conv2d(x, weight, padding=kwargs["padding"]),
            "only the width is padded: F.pad(x, (pw, pw)) pads the last dim only; pad the height too with "
            "F.pad(x, (pw, pw, ph, ph))": F.conv2d(F.pad(x, (pw, pw)), weight, stride=kwargs["stride"]),
            "the padding is on one side only; F.pad(x, (pw, pw, ph, ph)) pads left, right, top and bottom":
                F.conv2d(F.pad(x, (pw, 0, ph, 0)), weight, stride=kwargs["stride"]),
            "the padding is ignored": F.conv2d(x, weight, stride=kwargs["stride"]),
            "height and width are swapped in the stride or padding":
                F.conv2d(x, weight, stride=(sw, sh), padding=(pw, ph)),
        })


def test_conv2d_bias(student, reference):
    """One bias per output channel, broadcast over the batch and the positions (W_out != C_out)."""
    x, weight, bias = conv_inputs(13, 2, 3, 6, 5, 4, 3, 3)
    actual, expected, what = call_conv(student, reference, x, weight, bias)
    assert_close(actual, expected, what=f"{what} (compared with F.conv2d)",
                 alternatives=[flipped(x, weight, bias)], diagnoses={
        "the bias is ignored": F.conv2d(x, weight),
        "the bias is added twice": F.conv2d(x, weight, 2 * bias),
    })


def test_conv2d_backward(student, reference):
    """conv2d as a layer a network trains: with stride (1, 2), padding (2, 1) and a (3, 2) kernel, its output and the
    gradients of a backward pass with respect to x and weight are F.conv2d's."""
    x, weight, _ = conv_inputs(14, 2, 3, 7, 8, 4, 3, 2)
    kwargs = {"stride": (1, 2), "padding": (2, 1)}
    actual, expected, what = call_conv(student, reference, x, weight, **kwargs)
    assert_tensor(actual, what=what, shape=expected.shape)
    assert is_close(actual, expected), (
        f"{what} differs from F.conv2d's output, so its gradients cannot be right either: fix the output first "
        "(the other conv2d tests say how it differs)")
    grad_output = torch.randn(expected.shape, generator=torch.Generator().manual_seed(15))
    leaves = x.clone().requires_grad_(), weight.clone().requires_grad_()
    F.conv2d(*leaves, **kwargs).backward(grad_output)
    mine = x.clone().requires_grad_(), weight.clone().requires_grad_()
    reference.conv2d(*mine, **kwargs).backward(grad_output)
    self_check(all(is_close(a.grad, b.grad) for a, b in zip(mine, leaves)), "reference conv2d gradients vs F.conv2d")
    _, grads = backward_in_kernel(student, student.conv2d, (x, weight), grad_output, **kwargs)
    for name, got, leaf in zip(("x", "weight"), grads, leaves):
        assert_close(got, leaf.grad, what=f"the gradient with respect to {name} of a backward pass through {what} "
                     "(compared with F.conv2d's)", diagnoses={
            f"it is zero everywhere: {name} {CUT_FROM_GRAPH}": torch.zeros_like(leaf.grad),
        })


# -- max pooling ------------------------------------------------------------------------

def call_pool(student, reference, x, *args, **kwargs):
    expected = F.max_pool2d(x, *args, **kwargs)
    self_check(is_close(reference.max_pool2d(x, *args, **kwargs), expected, atol=0, rtol=0),
               "reference max_pool2d vs F.max_pool2d")
    what = f"max_pool2d(x, {', '.join(map(repr, args))}{kwargs_text(kwargs)}) with x {shape_text(x.shape)}"
    return student.max_pool2d(x, *args, **kwargs), expected, what


def test_max_pool_matches_functional(student, reference):
    """The default stride is the kernel size; kernels 2 and (2, 3) on non-square inputs whose sizes do not divide."""
    g = torch.Generator().manual_seed(21)
    for x, kernel in ((torch.randn(2, 3, 6, 8, generator=g), 2), (torch.randn(2, 2, 7, 9, generator=g), (2, 3))):
        actual, expected, what = call_pool(student, reference, x, kernel)
        assert_close(actual, expected, what=f"{what} (compared with F.max_pool2d)", atol=0, rtol=0, diagnoses={
            "the windows move by 1: when stride is None, the stride is the kernel size":
                F.max_pool2d(x, kernel, stride=1),
            "it averages the windows; max pooling keeps the largest value": F.avg_pool2d(x, kernel),
            "the max runs over the channels too; pool each channel separately":
                F.max_pool2d(x, kernel).amax(dim=1, keepdim=True),
        })


def test_max_pool_stride_padding(student, reference):
    """Overlapping windows with padding on mostly negative inputs: padding must never win the max."""
    g = torch.Generator().manual_seed(22)
    x = torch.randn(2, 3, 7, 8, generator=g) - 2.0  # mostly negative: a zero from the padding would win
    for kernel, kwargs in ((3, {"stride": 2, "padding": 1}), ((3, 2), {"stride": (2, 1), "padding": (1, 1)})):
        actual, expected, what = call_pool(student, reference, x, kernel, **kwargs)
        (ph, pw) = pair(kwargs["padding"])
        assert_close(actual, expected, what=f"{what} (compared with F.max_pool2d)", atol=0, rtol=0, diagnoses={
            "the padding is zeros, which win the max over negative values; pad with float('-inf')":
                F.max_pool2d(F.pad(x, (pw, pw, ph, ph)), kernel, stride=kwargs["stride"]),
            "the stride is ignored": F.max_pool2d(x, kernel, stride=1, padding=kwargs["padding"]),
            "the padding is ignored": F.max_pool2d(x, kernel, stride=kwargs["stride"]),
        })


def test_max_pool_backward(student, reference):
    """max_pool2d as a layer a network trains: the gradient of a backward pass reaches the maximum of each window
    (kernel (2, 3) with the default stride; kernel (3, 2), stride (2, 1), padding 1 on mostly negative values)."""
    g = torch.Generator().manual_seed(23)
    cases = ((torch.randn(2, 2, 7, 9, generator=g), (2, 3), {}),
             (torch.randn(2, 3, 7, 8, generator=g) - 2.0, (3, 2), {"stride": (2, 1), "padding": 1}))
    for x, kernel, kwargs in cases:
        actual, expected, what = call_pool(student, reference, x, kernel, **kwargs)
        assert_tensor(actual, what=what, shape=expected.shape)
        assert is_close(actual, expected, atol=0, rtol=0), (
            f"{what} differs from F.max_pool2d's output, so its gradient cannot be right either: fix the output "
            "first (the other max_pool2d tests say how it differs)")
        grad_output = torch.randn(expected.shape, generator=g)
        leaf = x.clone().requires_grad_()
        F.max_pool2d(leaf, kernel, **kwargs).backward(grad_output)
        mine = x.clone().requires_grad_()
        reference.max_pool2d(mine, kernel, **kwargs).backward(grad_output)
        self_check(is_close(mine.grad, leaf.grad), "reference max_pool2d gradient vs F.max_pool2d")
        _, (got,) = backward_in_kernel(student, student.max_pool2d, (x,), grad_output, kernel_size=kernel, **kwargs)
        assert_close(got, leaf.grad, what=f"the gradient with respect to x of a backward pass through {what} "
                     "(compared with F.max_pool2d's)", diagnoses={
            f"it is zero everywhere: x {CUT_FROM_GRAPH}": torch.zeros_like(leaf.grad),
        })


# -- the small CNN ----------------------------------------------------------------------

CNN_SHAPES = {"features.0.weight": (8, 1, 3, 3), "features.0.bias": (8,), "features.3.weight": (16, 8, 3, 3),
              "features.3.bias": (16,)}


def cnn_shapes(num_classes):
    return {**CNN_SHAPES, "head.weight": (num_classes, 256), "head.bias": (num_classes,)}


def check_cnn_parameters(state, num_classes, *, loading=False):
    call = f"SmallCNN(num_classes={num_classes}).state_dict()"
    expected = cnn_shapes(num_classes)
    why = "; the grader loads its own weights into them by name, so it cannot run this check" if loading else ""
    assert isinstance(state, dict), f"{call} returned a {type(state).__name__}: is SmallCNN an nn.Module?"
    assert list(state) == list(expected), (
        f"{call} has the parameters {list(state) or 'none'}; expected {list(expected)}: self.features = "
        "nn.Sequential(Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, MaxPool2d) and self.head = nn.Linear(256, num_classes)"
        + why
    )
    for name, shape in expected.items():
        assert_tensor(state[name], what=f"{call}['{name}']", shape=shape)


def cnn_parameters(num_classes, seed):
    """PyTorch's default initialisation range, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn here from a seed."""
    g = torch.Generator().manual_seed(seed)
    shapes = cnn_shapes(num_classes)
    parameters = {}
    for name, shape in shapes.items():
        fan_in = math.prod(shapes[name.rsplit(".", 1)[0] + ".weight"][1:])  # a bias shares its layer's fan-in
        parameters[name] = (torch.rand(shape, generator=g) * 2 - 1) / math.sqrt(fan_in)
    return parameters


def cnn_forward(p, x, *, activation=torch.relu, pool=F.max_pool2d):
    """SmallCNN with the knobs students get wrong."""
    x = pool(activation(F.conv2d(x, p["features.0.weight"], p["features.0.bias"], padding=1)), 2)
    x = pool(activation(F.conv2d(x, p["features.3.weight"], p["features.3.bias"], padding=1)), 2)
    return F.linear(x.flatten(1), p["head.weight"], p["head.bias"])


def test_cnn_architecture(student):
    """SmallCNN() has conv (8, 1, 3, 3), conv (16, 8, 3, 3) and a (num_classes, 256) head, under the asked names."""
    for num_classes in (2, 5):
        check_cnn_parameters(student.SmallCNN(num_classes=num_classes).state_dict(), num_classes)


def test_cnn_forward_matches_reference(student, reference):
    """SmallCNN with the grader's weights gives the reference logits on a batch of 3 images."""
    parameters = cnn_parameters(2, 31)
    model = student.SmallCNN()
    check_cnn_parameters(model.state_dict(), 2, loading=True)
    model.load_state_dict(parameters)
    model.eval()
    x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(32))
    own = reference.SmallCNN()
    own.load_state_dict(parameters)
    with torch.no_grad():
        expected = own(x)
    self_check(is_close(expected, cnn_forward(parameters, x)), "reference SmallCNN vs functional")
    assert_close(model(x), expected, what="the logits of SmallCNN()(x) with x (3, 1, 16, 16) and the grader's weights",
                 diagnoses={
        "there is no ReLU after the convolutions": cnn_forward(parameters, x, activation=lambda z: z),
        "the pooling averages; use nn.MaxPool2d(2)": cnn_forward(parameters, x, pool=F.avg_pool2d),
    })


def test_cnn_training_steps(student, reference):
    """Four full-batch SGD steps (lr 0.1) of fit on SmallCNN(num_classes=3) with the grader's weights, on 12 parts
    labelled ok / scratch / blob: every parameter moves as the reference's do, so the gradients reach every layer."""
    num_classes, epochs, lr = 3, 4, 0.1
    parameters = cnn_parameters(num_classes, 33)
    model = student.SmallCNN(num_classes=num_classes)
    check_cnn_parameters(model.state_dict(), num_classes, loading=True)
    model.load_state_dict(parameters)
    images, _, kinds = reference.make_inspection_set(12, seed=34)
    call = f"fit(SmallCNN(num_classes={num_classes}), torch.optim.SGD(model.parameters(), lr={lr}), images, kinds, " \
           f"epochs={epochs}, batch_size=12)"
    try:
        student.fit(model, student.torch.optim.SGD(model.parameters(), lr=lr), images, kinds, epochs, len(images))
    except StudentCodeError as error:
        if isinstance(error, (StudentTimeout, KernelGone)):
            raise
        raise AssertionError(f"{call} failed: {error}. loss.backward() needs logits that depend on the parameters "
                             "through autograd: no .detach(), .item() or torch.no_grad() in SmallCNN.forward") from None
    after = model.state_dict()
    own = reference.SmallCNN(num_classes=num_classes)
    own.load_state_dict(parameters)
    reference.fit(own, torch.optim.SGD(own.parameters(), lr=lr), images, kinds, epochs, len(images))
    for name, value in own.state_dict().items():
        if name.startswith("features.") and is_close(after.get(name), parameters[name], atol=0, rtol=0):
            raise AssertionError(f"after {call} the parameter {name} has not moved: no gradient reaches the "
                                 "convolutions; is self.features' output detached (or computed under "
                                 "torch.no_grad()) before the head?")
        assert_close(after.get(name), value, what=f"model.state_dict()['{name}'] after {call} (compared with the "
                     "reference SmallCNN trained the same way)")


def test_inspection_model_accuracy(student, reference):
    """The notebook's trained inspection_model tells defects from good parts on 400 parts it has never seen (>= 0.9)."""
    images, labels, _ = reference.make_inspection_set(400, seed=12345)
    model = student.inspection_model
    assert model is not None, ("inspection_model is None: the training cell did not run to the end (does SmallCNN "
                               "raise?); it must hold your trained SmallCNN")
    logits = assert_tensor(model(images), what="inspection_model(images) with images (400, 1, 16, 16)",
                           shape=(400, 2))
    accuracy = (logits.argmax(dim=1) == labels).float().mean().item()
    majority = max(labels.float().mean().item(), 1 - labels.float().mean().item())
    assert accuracy >= 0.9, (
        f"inspection_model's accuracy on 400 new parts is {accuracy:.3f}; expected at least 0.9 (always answering "
        f"the majority class gives {majority:.2f}); run the training cell as given, with your SmallCNN"
    )


# -- transfer learning ------------------------------------------------------------------

BACKBONE = {"0.weight": (4, 1, 3, 3), "0.bias": (4,)}
FEATURES, CLASSES = 64, 3


def grader_backbone(student, seed):
    """conv(1 -> 4) -> ReLU -> max-pool 4: (N, 1, 16, 16) -> (N, 4, 4, 4), built from PyTorch's layers inside the
    student's kernel, so that the transfer tests do not depend on the student's SmallCNN."""
    nn = student.torch.nn
    backbone = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4))
    g = torch.Generator().manual_seed(seed)
    weights = {name: torch.randn(shape, generator=g) / 3 for name, shape in BACKBONE.items()}
    backbone.load_state_dict(weights)
    return backbone, weights


def transfer_model(student, seed):
    """The student's TransferModel around our backbone, with our head weights loaded."""
    backbone, weights = grader_backbone(student, seed)
    model = student.TransferModel(backbone, FEATURES, CLASSES)
    state = model.state_dict()
    expected = [f"backbone.{name}" for name in BACKBONE] + ["head.weight", "head.bias"]
    assert isinstance(state, dict) and sorted(state) == sorted(expected), (
        f"TransferModel(backbone, {FEATURES}, {CLASSES}).state_dict() has the parameters "
        f"{list(state) if isinstance(state, dict) else state!r}; expected {expected}: the backbone as self.backbone "
        f"and a new self.head = nn.Linear(feature_dim, num_classes)"
    )
    assert_tensor(state["head.weight"], what="the head's weight", shape=(CLASSES, FEATURES))
    g = torch.Generator().manual_seed(seed + 1)
    parameters = {**{f"backbone.{name}": value for name, value in weights.items()},
                  "head.weight": torch.randn(CLASSES, FEATURES, generator=g) / 8,
                  "head.bias": torch.randn(CLASSES, generator=g) / 8}
    model.load_state_dict(parameters)
    return model, parameters


def attribute(student, model, dotted):
    """model.<dotted>, read in the sandbox with operator.attrgetter: a Parameter that crosses the boundary arrives
    as a plain tensor, without its flag or its .grad."""
    try:
        attrgetter = student.torch.functional.operator.attrgetter
    except StudentCodeError as error:
        raise RuntimeError(f"grader self-check failed (operator.attrgetter not reachable in the sandbox: {error}); "
                           "this is not your mistake: tell the course staff") from None
    return attrgetter(dotted)(model)


def requires_grad(student, model, name):
    """model.<name>.requires_grad (see attribute)."""
    return attribute(student, model, f"{name}.requires_grad")


def test_transfer_frozen_backbone(student):
    """Every backbone parameter has requires_grad=False; the head's have requires_grad=True."""
    model, parameters = transfer_model(student, 41)
    flags = {name: requires_grad(student, model, name) for name in parameters}
    trainable = [name for name, flag in flags.items() if flag is True]
    assert not [name for name in trainable if name.startswith("backbone.")], (
        f"the trainable parameters of TransferModel(backbone, {FEATURES}, {CLASSES}) are {trainable}: the backbone is "
        "not frozen; call requires_grad_(False) on each of self.backbone's parameters, so that autograd computes no "
        "gradients for them"
    )
    assert trainable == ["head.weight", "head.bias"], (
        f"the trainable parameters of TransferModel(backbone, {FEATURES}, {CLASSES}) are {trainable or 'none'}; "
        "expected ['head.weight', 'head.bias']: the new head must stay trainable"
    )


def test_head_optimizer_param_groups(student):
    """head_optimizer(model, 0.3) is an SGD holding exactly the head's weight and bias, with lr 0.3."""
    model, parameters = transfer_model(student, 51)
    optimizer = student.head_optimizer(model, 0.3)
    call = "head_optimizer(model, 0.3)"
    groups = optimizer.param_groups
    assert isinstance(groups, list) and all(isinstance(group, dict) for group in groups), (
        f"{call}.param_groups is not a list of dicts: return a torch.optim.SGD")
    held = [tensor for group in groups for tensor in group.get("params", [])]
    head = [parameters["head.weight"], parameters["head.bias"]]
    backbone = [value for name, value in parameters.items() if name.startswith("backbone.")]
    in_backbone = [t for t in held if any(is_close(t, b, atol=0, rtol=0) for b in backbone)]
    assert not in_backbone, (
        f"{call} also holds the backbone's parameters ({len(held)} tensors in all); give the optimizer only "
        "model.head.parameters(): an optimizer should hold only what it is meant to update"
    )
    shapes = sorted(shape_text(t.shape) for t in held)
    assert len(held) == 2 and all(any(is_close(t, h, atol=0, rtol=0) for t in held) for h in head), (
        f"{call} holds {len(held)} tensors of shapes {shapes}; expected exactly the head's weight "
        f"{shape_text(head[0].shape)} and bias {shape_text(head[1].shape)}"
    )
    lrs = sorted({group.get("lr") for group in groups}, key=str)
    assert lrs == [0.3], f"{call} has the learning rate(s) {lrs}; expected the lr it was given, 0.3"
    extras = sorted({f"{key} {group.get(key)!r}" for group in groups for key in ("momentum", "weight_decay", "nesterov")
                     if group.get(key) not in (None, 0, 0.0, False)})
    assert not extras, (f"{call} has {', '.join(extras)}; expected plain SGD, torch.optim.SGD(params, lr=lr), without "
                        "momentum or weight decay")
    assert optimizer.type_name == "SGD", f"{call} returned a {optimizer.type_name}; expected a torch.optim.SGD"


def test_transfer_training_step(student):
    """One full-batch step of fit with head_optimizer: the backbone stays exactly as it was, the head takes one SGD step."""
    model, parameters = transfer_model(student, 61)
    g = torch.Generator().manual_seed(62)
    x, y, lr = torch.rand(6, 1, 16, 16, generator=g), torch.tensor([0, 1, 2, 0, 1, 2]), 0.5
    student.fit(model, student.head_optimizer(model, lr), x, y, 1, 6)  # epochs=1, batch_size=6: one step
    after = model.state_dict()
    for name, value in parameters.items():
        if name.startswith("backbone."):
            assert is_close(after[name], value, atol=0, rtol=0), (
                f"one training step changed the backbone's {name}: freeze the backbone and give the optimizer only "
                "the head's parameters"
            )
    features = F.max_pool2d(torch.relu(F.conv2d(x, parameters["backbone.0.weight"], parameters["backbone.0.bias"],
                                                padding=1)), 4).flatten(1)  # (6, 64)
    weight = parameters["head.weight"].clone().requires_grad_()
    bias = parameters["head.bias"].clone().requires_grad_()
    F.cross_entropy(F.linear(features, weight, bias), y).backward()
    expected = {"head.weight": (weight - lr * weight.grad).detach(), "head.bias": (bias - lr * bias.grad).detach()}
    if is_close(after["head.weight"], parameters["head.weight"], atol=0, rtol=0):
        raise AssertionError("one training step with head_optimizer(model, 0.5) did not change the head: does the "
                             "optimizer hold model.head's parameters, and does forward use self.head?")
    for name, value in expected.items():
        assert_close(after[name], value, what=f"the head's {name.split('.')[1]} after one step of fit with "
                     f"head_optimizer(model, {lr}) (compared with plain SGD on the head)")


def test_transfer_training_steps(student):
    """Five full-batch steps of fit with head_optimizer(model, 0.2): the backbone never moves and, frozen, holds no
    gradient (the point of freezing: autograd computes none for it); the head follows plain SGD step after step."""
    model, parameters = transfer_model(student, 71)
    g = torch.Generator().manual_seed(72)
    x, y, lr, epochs = torch.rand(9, 1, 16, 16, generator=g), torch.tensor([0, 1, 2] * 3), 0.2, 5
    call = f"fit(model, head_optimizer(model, {lr}), x, y, epochs={epochs}, batch_size=9)"
    try:
        student.fit(model, student.head_optimizer(model, lr), x, y, epochs, len(x))
    except StudentCodeError as error:
        if isinstance(error, (StudentTimeout, KernelGone)):
            raise
        raise AssertionError(f"{call} failed: {error}. The head's output must stay in the autograd graph: freeze "
                             "the backbone's parameters, and do not run the head under torch.no_grad()") from None
    after = model.state_dict()
    for name, value in parameters.items():
        if name.startswith("backbone."):
            assert is_close(after.get(name), value, atol=0, rtol=0), (
                f"{call} changed the backbone's {name}: freeze the backbone and give the optimizer only the head's "
                "parameters")
            assert attribute(student, model, f"{name}.grad") is None, (
                f"after {call} the backbone's {name} holds a gradient: autograd still computes gradients for the "
                "backbone; freeze it (requires_grad_(False) on its parameters) so that no gradient is computed")
    features = F.max_pool2d(torch.relu(F.conv2d(x, parameters["backbone.0.weight"], parameters["backbone.0.bias"],
                                                padding=1)), 4).flatten(1)  # (9, 64)
    expected = head_sgd(features, y, parameters, lr, epochs)
    variants = {
        "the head moved as with momentum 0.9: head_optimizer must be plain SGD, torch.optim.SGD(params, lr=lr)":
            head_sgd(features, y, parameters, lr, epochs, momentum=0.9),
        f"the head moved as after one step only: do all {epochs} steps update the head?":
            head_sgd(features, y, parameters, lr, 1),
    }
    for name, value in expected.items():
        assert_close(after.get(name), value, what=f"the head's {name.split('.')[1]} after {call} (compared with "
                     "plain SGD on the head)", diagnoses={sentence: wrong[name] for sentence, wrong in variants.items()})


def head_sgd(features, y, parameters, lr, steps, **options):
    """The head's parameters after `steps` full-batch steps of torch.optim.SGD on the backbone's features."""
    weight = parameters["head.weight"].clone().requires_grad_()
    bias = parameters["head.bias"].clone().requires_grad_()
    optimizer = torch.optim.SGD([weight, bias], lr=lr, **options)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(F.linear(features, weight, bias), y).backward()
        optimizer.step()
    return {"head.weight": weight.detach(), "head.bias": bias.detach()}
