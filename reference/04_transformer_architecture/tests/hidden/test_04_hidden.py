"""Hidden checks for 04_transformer_architecture, run in the trusted grader process.

Student code is reached only through the `student` fixture. Expected values come from
the formula (positional encoding), from explicit masks, and from PyTorch:
nn.TransformerEncoderLayer / nn.TransformerDecoderLayer (dropout 0, batch_first, post-norm,
ReLU) with weights drawn here and copied into the student's layers by name, and a model
assembled here from those layers. PyTorch's layers are called with autograd enabled, so
that their inference fast path (which may differ in rounding) is not taken.

Masks follow PyTorch's convention throughout: True = may NOT attend.

Tolerances: float32. A layer is two attentions or one, a feed-forward network and layer
norms; correct implementations that order the sums differently (a fused projection, a
different attention kernel) differ by ~1e-6 before and up to ~1e-5 after a LayerNorm
divides by a small standard deviation. The mistakes we look for (pre-norm, a missing
residual, an ignored or inverted mask, sines and cosines swapped) change values by 1e-1
or more. Layers and the model are compared with ATOL = 1e-4, RTOL = 1e-4; the positional
encoding (one sin or cos per entry) with the default ATOL = 1e-5, RTOL = 1e-4 of
grader/checks/tensors.py; masks exactly.

One mistake costs points once where the tests can tell it apart: the masked-layer tests
accept the layer-structure mistakes that the unmasked tests penalise, and the model test
accepts the right wiring built on the student's own layers, masks and positional
encoding, called through the bridge. Causality and padding invariance are properties of
the whole model, so a layer that ignores its masks fails them too.
tests/fixtures/mutants/04_transformer_architecture/mutants.yaml lists which mistake fails
which test.

Beyond the defaults: each layer is also checked as it is trained (test_*_layer_training): in
train mode (dropout is 0 here, so it computes what eval mode computes), without changing the
caller's tensors in place, and with a backward pass whose gradients (inputs and parameters)
equal PyTorch's. The backward pass has to run where the student's layer lives, so it runs in
the sandbox through torch.autograd.functional.vjp and torch.func.functional_call (reached
through the student's own `torch`; grader/checks/sandbox_autograd.py), with our parameters; only the gradients come back, and they are judged here. The
model is checked with pad_id=5 (token 0 a real token), with max_len=96 and inputs longer than
64 positions (three layers, two heads), and with a backward pass; those tests accept the
mistakes test_transformer_matches_reference charges and the right wiring of the student's own
parts, and the model's gradients are not judged when the student's layers' are wrong.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.checks.sandbox_autograd import functional_vjp
from grader.checks.selfcheck import self_check
from grader.kernel.bridge import StudentCodeError
from grader.checks.tensors import assert_close, assert_equal, assert_tensor, is_close, shape_text

LAYER_ATOL = 1e-4
LAYER_RTOL = 1e-4
PAD = 0


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def close(actual, expected, *, what, diagnoses=None, alternatives=()):
    assert_close(actual, expected, what=what, atol=LAYER_ATOL, rtol=LAYER_RTOL, diagnoses=diagnoses,
                 alternatives=alternatives)


def attempt(function, *args, **kwargs):
    """The value of a computation built on the student's code, or None when that code fails
    (its failure is the job of the test that checks it)."""
    try:
        value = function(*args, **kwargs)
        return value if isinstance(value, torch.Tensor) else None
    except Exception:  # noqa: BLE001
        return None


# -- positional encoding -----------------------------------------------------------------

def sinusoids(max_len, d_model, *, swap=False, exponent_i=False, base=10000.0, halves=False, start=0,
              multiply=False):
    """PE(pos, 2i) = sin(pos / base^(2i/d)), PE(pos, 2i+1) = cos(...), with a switch per common mistake."""
    pos = torch.arange(start, start + max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # 2i
    power = base ** ((two_i / 2 if exponent_i else two_i) / d_model)
    angle = pos * power if multiply else pos / power  # (max_len, d/2)
    first, second = (torch.cos(angle), torch.sin(angle)) if swap else (torch.sin(angle), torch.cos(angle))
    if halves:
        return torch.cat([first, second], dim=1).float()
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = first, second
    return pe.float()


PE_MISTAKES = {
    "swap": "sines and cosines are swapped: even columns 2i hold sin, odd columns 2i+1 hold cos",
    "exponent_i": "the exponent is i/d_model instead of 2i/d_model: columns 2i and 2i+1 share the frequency "
                  "1/10000^(2i/d_model)",
    "base": "the base is not 10000",
    "halves": "the sines fill the first half of the columns and the cosines the second; interleave them: "
              "pe[:, 0::2] = sin, pe[:, 1::2] = cos",
    "start": "positions start at 1; they start at 0 (row 0 is sin(0), cos(0), ... = 0, 1, 0, 1, ...)",
    "multiply": "the positions are multiplied by 10000^(2i/d_model) instead of divided by it",
}


def test_positional_encoding_formula(student):
    """positional_encoding(max_len, d_model) equals the formula of sec. 3.5 (two sizes)."""
    for max_len, d_model in ((50, 16), (7, 10)):
        expected = sinusoids(max_len, d_model)
        variants = {"swap": dict(swap=True), "exponent_i": dict(exponent_i=True), "halves": dict(halves=True),
                    "start": dict(start=1), "multiply": dict(multiply=True)}
        diagnoses = {PE_MISTAKES[key]: sinusoids(max_len, d_model, **knobs) for key, knobs in variants.items()}
        diagnoses.update({PE_MISTAKES["base"] + f" (it looks like {base:g})": sinusoids(max_len, d_model, base=base)
                          for base in (1000.0, 100.0, 10.0, math.e)})
        assert_close(student.positional_encoding(max_len, d_model), expected,
                     what=f"positional_encoding({max_len}, {d_model})", diagnoses=diagnoses)


# -- masks -------------------------------------------------------------------------------

def test_padding_mask(student):
    """True exactly where the token is pad_id (PyTorch's key_padding_mask convention)."""
    g = generator(11)
    tokens = torch.randint(1, 9, (3, 6), generator=g)
    tokens[0, 4:], tokens[2, 2:] = 0, 0
    tokens[1, 0] = 7
    for pad_id in (0, 7):
        expected = tokens == pad_id
        actual = student.padding_mask(tokens, pad_id)
        what = f"padding_mask(tokens, {pad_id}) for tokens {tokens.tolist()}"
        if isinstance(actual, torch.Tensor) and actual.shape == expected.shape and actual.dtype == torch.bool \
                and torch.equal(actual, ~expected):
            raise AssertionError(f"{what} is True at the real tokens: the convention here is PyTorch's, True = "
                                 "padding, the keys to ignore")
        assert_equal(actual, expected, what=what)


def test_causal_mask(student):
    """True strictly above the diagonal: query t may not attend to keys after t."""
    for size in (1, 4, 7):
        expected = torch.ones(size, size, dtype=torch.bool).triu(1)
        actual = student.causal_mask(size)
        what = f"causal_mask({size})"
        if isinstance(actual, torch.Tensor) and actual.shape == expected.shape and actual.dtype == torch.bool \
                and not torch.equal(actual, expected):
            if torch.equal(actual, ~expected):
                raise AssertionError(f"{what} is True on and below the diagonal: that is notebook 05's convention "
                                     "(True = may attend). nn.MultiheadAttention takes True = may NOT attend: "
                                     "True above the diagonal")
            if torch.equal(actual, expected.T):
                raise AssertionError(f"{what} is True below the diagonal: that hides the past and shows the future; "
                                     "True must be above the diagonal (keys after the query)")
            if torch.equal(actual, expected | torch.eye(size, dtype=torch.bool)):
                raise AssertionError(f"{what} is True on the diagonal too: a position may attend to itself (and "
                                     "position 0 would have no key at all); use triu(diagonal=1)")
        assert_equal(actual, expected, what=what)


# -- layers, computed here -----------------------------------------------------------------

ENCODER_NAMES = ["self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                 "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
                 "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]
DECODER_NAMES = ENCODER_NAMES[:4] + [name.replace("self_attn", "multihead_attn") for name in ENCODER_NAMES[:4]] \
    + ENCODER_NAMES[4:] + ["norm3.weight", "norm3.bias"]


def torch_layer(kind: str, d_model: int, nhead: int, ff: int, params=None, **options) -> nn.Module:
    cls = nn.TransformerEncoderLayer if kind == "encoder" else nn.TransformerDecoderLayer
    layer = cls(d_model, nhead, ff, dropout=0.0, batch_first=True, **options)
    if params is not None:
        layer.load_state_dict(params)
    return layer.eval()


def layer_params(kind: str, d_model: int, nhead: int, ff: int, seed: int) -> dict[str, torch.Tensor]:
    """PyTorch's shapes, random values drawn here (LayerNorm weights and biases too, so they matter)."""
    torch.manual_seed(seed)
    shapes = {name: tuple(value.shape) for name, value in torch_layer(kind, d_model, nhead, ff).state_dict().items()}
    g = generator(seed)
    params = {}
    for name, shape in shapes.items():
        if name.startswith("norm") and name.endswith("weight"):
            params[name] = 1 + 0.3 * torch.randn(shape, generator=g)
        else:
            params[name] = (torch.rand(shape, generator=g) * 2 - 1) * (0.5 if "weight" in name else 0.2)
    return params


def sub(params, prefix: str) -> dict[str, torch.Tensor]:
    return {name[len(prefix) + 1:]: value for name, value in params.items() if name.startswith(prefix + ".")}


def attention(params, prefix, nhead, query, key_value, attn_mask=None, key_padding_mask=None):
    d_model = query.size(-1)
    module = nn.MultiheadAttention(d_model, nhead, batch_first=True)
    module.load_state_dict(sub(params, prefix))
    return module(query, key_value, key_value, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                  need_weights=False)[0]


def layer_norm(params, name, x):
    return F.layer_norm(x, x.shape[-1:], params[f"{name}.weight"], params[f"{name}.bias"])


def ffn(params, x, activation=F.relu):
    return F.linear(activation(F.linear(x, params["linear1.weight"], params["linear1.bias"])),
                    params["linear2.weight"], params["linear2.bias"])


def encoder_layer(params, nhead, x, src_mask=None, kpm=None, *, pre_norm=False, attn_residual=True,
                  ffn_residual=True, activation=F.relu):
    """nn.TransformerEncoderLayer's computation, with a switch per common mistake."""
    if pre_norm:
        x = x + attention(params, "self_attn", nhead, layer_norm(params, "norm1", x), layer_norm(params, "norm1", x),
                          src_mask, kpm)
        return x + ffn(params, layer_norm(params, "norm2", x), activation)
    a = attention(params, "self_attn", nhead, x, x, src_mask, kpm)
    x = layer_norm(params, "norm1", x + a if attn_residual else a)
    f = ffn(params, x, activation)
    return layer_norm(params, "norm2", x + f if ffn_residual else f)


def decoder_layer(params, nhead, y, memory, tgt_mask=None, tgt_kpm=None, memory_kpm=None, *, pre_norm=False,
                  no_residual=(), cross_on_self=False, activation=F.relu):
    """nn.TransformerDecoderLayer's computation, with a switch per common mistake."""
    if pre_norm:
        n1 = layer_norm(params, "norm1", y)
        y = y + attention(params, "self_attn", nhead, n1, n1, tgt_mask, tgt_kpm)
        n2 = layer_norm(params, "norm2", y)
        y = y + attention(params, "multihead_attn", nhead, n2, n2 if cross_on_self else memory, None,
                          None if cross_on_self else memory_kpm)
        return y + ffn(params, layer_norm(params, "norm3", y), activation)
    a = attention(params, "self_attn", nhead, y, y, tgt_mask, tgt_kpm)
    y = layer_norm(params, "norm1", a if "self" in no_residual else y + a)
    if cross_on_self:
        c = attention(params, "multihead_attn", nhead, y, y, tgt_mask, tgt_kpm)
    else:
        c = attention(params, "multihead_attn", nhead, y, memory, None, memory_kpm)
    y = layer_norm(params, "norm2", c if "cross" in no_residual else y + c)
    f = ffn(params, y, activation)
    return layer_norm(params, "norm3", f if "ffn" in no_residual else y + f)


def check_names(state, expected: dict[str, tuple[int, ...]], call: str, *, loading: bool) -> None:
    why = "; the grader loads its own weights into them by name, so it cannot run this check" if loading else ""
    assert isinstance(state, dict), f"{call}.state_dict() returned {type(state).__name__}: is it an nn.Module?"
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    assert not missing and not unexpected, (
        f"{call} has the parameters {sorted(state) or 'none'}; expected exactly {sorted(expected)}"
        + (f" (missing: {missing})" if missing else "") + (f" (unexpected: {unexpected})" if unexpected else "")
        + ("; keep the positional encoding out of the state: register_buffer(..., persistent=False)"
           if any(name.split(".")[-1] in ("pe", "positional_encoding") for name in unexpected) else "")
        + why
    )
    for name, shape in expected.items():
        assert_tensor(state[name], what=f"{call}.state_dict()['{name}']", shape=shape)


def load(module, params, call: str):
    """Load our weights into a student module (names checked first, loading verified), eval mode."""
    check_names(module.state_dict(), {n: tuple(v.shape) for n, v in params.items()}, call, loading=True)
    module.load_state_dict(params)
    module.eval()
    back = module.state_dict()
    assert all(is_close(back[name], value, atol=0, rtol=0) for name, value in params.items()), (
        "after load_state_dict the parameters are not the ones loaded; do not override load_state_dict or state_dict"
    )
    return module


def student_layer(student, kind, d_model, nhead, ff, params):
    cls = "EncoderLayer" if kind == "encoder" else "DecoderLayer"
    return load(getattr(student, cls)(d_model, nhead, ff), params, f"{cls}({d_model}, {nhead}, {ff})")


# -- encoder layer -----------------------------------------------------------------------

def test_encoder_layer_parameters(student):
    """self_attn, linear1, linear2, norm1, norm2: the names and shapes of nn.TransformerEncoderLayer."""
    for d_model, nhead, ff in ((16, 4, 32), (12, 3, 20)):
        expected = {n: tuple(v.shape) for n, v in torch_layer("encoder", d_model, nhead, ff).state_dict().items()}
        call = f"EncoderLayer({d_model}, {nhead}, {ff})"
        check_names(student.EncoderLayer(d_model, nhead, ff).state_dict(), expected, call, loading=False)


ENCODER_MISTAKES = {
    "pre_norm": "the layer normalises before each sub-layer (pre-norm, norm_first=True); PyTorch's default and "
                "the paper are post-norm: x = norm1(x + self_attn(x)), then x = norm2(x + ffn(x))",
    "attn_residual": "the residual connection around the self-attention is missing: norm1(x + attention), "
                     "not norm1(attention)",
    "ffn_residual": "the residual connection around the feed-forward network is missing: norm2(x + ffn(x))",
    "gelu": "the feed-forward network uses GELU; nn.TransformerEncoderLayer's default activation is ReLU",
    "identity": "the feed-forward network has no activation between linear1 and linear2 (use ReLU)",
}


def encoder_variants(params, nhead, x, src_mask=None, kpm=None) -> dict[str, torch.Tensor]:
    knobs = {"pre_norm": dict(pre_norm=True), "attn_residual": dict(attn_residual=False),
             "ffn_residual": dict(ffn_residual=False), "gelu": dict(activation=F.gelu),
             "identity": dict(activation=lambda t: t)}
    with torch.no_grad():
        return {ENCODER_MISTAKES[key]: encoder_layer(params, nhead, x, src_mask, kpm, **k) for key, k in knobs.items()}


def test_encoder_layer_matches_torch(student):
    """Without masks, the output equals nn.TransformerEncoderLayer's with the same weights (two sizes, batch > 1)."""
    for d_model, nhead, ff, B, S, seed in ((16, 4, 32, 2, 5, 21), (12, 3, 20, 3, 4, 22)):
        params = layer_params("encoder", d_model, nhead, ff, seed)
        x = torch.randn(B, S, d_model, generator=generator(seed + 100))
        expected = torch_layer("encoder", d_model, nhead, ff, params)(x).detach()
        with torch.no_grad():
            self_check(is_close(encoder_layer(params, nhead, x), expected, atol=1e-5), "encoder_layer")
        layer = student_layer(student, "encoder", d_model, nhead, ff, params)
        call = f"EncoderLayer({d_model}, {nhead}, {ff})(src) with src {shape_text(x.shape)}"
        close(layer(x), expected, what=f"the output of {call} (weights copied from nn.TransformerEncoderLayer)",
              diagnoses=encoder_variants(params, nhead, x))


def padded_batch(B, S, d_model, lengths, seed):
    x = torch.randn(B, S, d_model, generator=generator(seed))
    kpm = torch.arange(S).unsqueeze(0) >= torch.tensor(lengths).unsqueeze(1)  # (B, S), True = padding
    return x, kpm


def test_encoder_layer_masks(student):
    """src_key_padding_mask and src_mask reach the self-attention: equal to PyTorch's, and the padded positions'
    inputs do not change the other positions' outputs."""
    d_model, nhead, ff, B, S = 16, 4, 32, 3, 6
    params = layer_params("encoder", d_model, nhead, ff, 31)
    x, kpm = padded_batch(B, S, d_model, (4, 6, 2), 32)
    layer = student_layer(student, "encoder", d_model, nhead, ff, params)
    causal = torch.ones(S, S, dtype=torch.bool).triu(1)
    for src_mask, kpm_used, name in ((None, kpm, "src_key_padding_mask=kpm"),
                                     (causal, None, "src_mask=causal (True above the diagonal)")):
        expected = torch_layer("encoder", d_model, nhead, ff, params)(x, src_mask=src_mask,
                                                                      src_key_padding_mask=kpm_used).detach()
        call = f"EncoderLayer({d_model}, {nhead}, {ff})(src, {name}) with src {shape_text(x.shape)}"
        actual = layer(x, src_mask=src_mask, src_key_padding_mask=kpm_used)
        with torch.no_grad():
            diagnoses = {"the mask is ignored: pass it on to self_attn": encoder_layer(params, nhead, x),
                         "the mask is inverted: True means 'may not attend' here (PyTorch's convention)":
                             encoder_layer(params, nhead, x, None if src_mask is None else ~src_mask,
                                           None if kpm_used is None else ~kpm_used)}
        close(actual, expected, what=f"the output of {call}", diagnoses=diagnoses,
              alternatives=list(encoder_variants(params, nhead, x, src_mask, kpm_used).values()))
    changed = x.clone()
    changed[kpm] = torch.randn(int(kpm.sum()), d_model, generator=generator(33))  # new vectors at the padding only
    before = layer(x, src_key_padding_mask=kpm)
    after = layer(changed, src_key_padding_mask=kpm)
    assert is_close(after[~kpm], before[~kpm], atol=LAYER_ATOL, rtol=LAYER_RTOL), (
        "changing the inputs at padded positions changed the outputs at real positions: the padded keys are "
        "attended to; pass src_key_padding_mask on to self_attn as key_padding_mask"
    )


# -- decoder layer -----------------------------------------------------------------------

def test_decoder_layer_parameters(student):
    """self_attn, multihead_attn, linear1, linear2, norm1..3: the names and shapes of nn.TransformerDecoderLayer."""
    for d_model, nhead, ff in ((16, 4, 32), (12, 3, 20)):
        expected = {n: tuple(v.shape) for n, v in torch_layer("decoder", d_model, nhead, ff).state_dict().items()}
        call = f"DecoderLayer({d_model}, {nhead}, {ff})"
        check_names(student.DecoderLayer(d_model, nhead, ff).state_dict(), expected, call, loading=False)


DECODER_MISTAKES = {
    "pre_norm": "the layer normalises before each sub-layer (pre-norm); PyTorch's default and the paper are "
                "post-norm: y = norm1(y + self_attn(y)), y = norm2(y + cross_attn(y, memory)), y = norm3(y + ffn(y))",
    "residual": "the residual connections are missing: each sub-layer's output is added to its input before "
                "the norm, y = norm(y + sublayer(y))",
    "self": "the residual connection around the self-attention is missing: norm1(y + self_attn(y))",
    "cross": "the residual connection around the cross-attention is missing: norm2(y + multihead_attn(y, memory))",
    "ffn": "the residual connection around the feed-forward network is missing: norm3(y + ffn(y))",
    "cross_on_self": "the cross-attention attends over the decoder's own states; its keys and values are the "
                     "encoder's output, the memory: multihead_attn(y, memory, memory)",
    "gelu": "the feed-forward network uses GELU; nn.TransformerDecoderLayer's default activation is ReLU",
}


def decoder_variants(params, nhead, y, memory, tgt_mask=None, tgt_kpm=None, memory_kpm=None):
    knobs = {"pre_norm": dict(pre_norm=True), "residual": dict(no_residual=("self", "cross", "ffn")),
             "self": dict(no_residual=("self",)), "cross": dict(no_residual=("cross",)),
             "ffn": dict(no_residual=("ffn",)),
             "cross_on_self": dict(cross_on_self=True), "gelu": dict(activation=F.gelu)}
    with torch.no_grad():
        return {DECODER_MISTAKES[key]: decoder_layer(params, nhead, y, memory, tgt_mask, tgt_kpm, memory_kpm, **k)
                for key, k in knobs.items()}


def test_decoder_layer_matches_torch(student):
    """Without masks, the output equals nn.TransformerDecoderLayer's with the same weights (T != S, batch > 1)."""
    for d_model, nhead, ff, B, T, S, seed in ((16, 4, 32, 2, 3, 5, 41), (12, 3, 20, 3, 4, 2, 42)):
        params = layer_params("decoder", d_model, nhead, ff, seed)
        g = generator(seed + 100)
        y, memory = torch.randn(B, T, d_model, generator=g), torch.randn(B, S, d_model, generator=g)
        expected = torch_layer("decoder", d_model, nhead, ff, params)(y, memory).detach()
        with torch.no_grad():
            self_check(is_close(decoder_layer(params, nhead, y, memory), expected, atol=1e-5), "decoder_layer")
        layer = student_layer(student, "decoder", d_model, nhead, ff, params)
        call = (f"DecoderLayer({d_model}, {nhead}, {ff})(tgt, memory) with tgt {shape_text(y.shape)}, "
                f"memory {shape_text(memory.shape)}")
        close(layer(y, memory), expected, what=f"the output of {call} (weights copied from nn.TransformerDecoderLayer)",
              diagnoses=decoder_variants(params, nhead, y, memory))


def test_decoder_layer_masks(student):
    """tgt_mask, tgt_key_padding_mask and memory_key_padding_mask each reach the right attention."""
    d_model, nhead, ff, B, T, S = 16, 4, 32, 3, 5, 6
    params = layer_params("decoder", d_model, nhead, ff, 51)
    y, tgt_kpm = padded_batch(B, T, d_model, (5, 3, 4), 52)
    memory, memory_kpm = padded_batch(B, S, d_model, (2, 6, 4), 53)
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)
    layer = student_layer(student, "decoder", d_model, nhead, ff, params)
    torch_dec = torch_layer("decoder", d_model, nhead, ff, params)
    cases = [
        (dict(tgt_mask=causal), "tgt_mask=causal", "tgt_mask does not reach self_attn (as attn_mask)"),
        (dict(tgt_key_padding_mask=tgt_kpm), "tgt_key_padding_mask=...",
         "tgt_key_padding_mask does not reach self_attn (as key_padding_mask)"),
        (dict(memory_key_padding_mask=memory_kpm), "memory_key_padding_mask=...",
         "memory_key_padding_mask does not reach multihead_attn, the cross-attention (as key_padding_mask)"),
    ]
    for masks, name, ignored in cases:
        expected = torch_dec(y, memory, **masks).detach()
        call = (f"DecoderLayer({d_model}, {nhead}, {ff})(tgt, memory, {name}) with tgt {shape_text(y.shape)}, "
                f"memory {shape_text(memory.shape)}")
        args = (masks.get("tgt_mask"), masks.get("tgt_key_padding_mask"), masks.get("memory_key_padding_mask"))
        inverted = tuple(None if m is None else ~m for m in args)
        with torch.no_grad():
            diagnoses = {f"the mask is ignored: {ignored}": decoder_layer(params, nhead, y, memory),
                         "the mask is inverted: True means 'may not attend' here (PyTorch's convention)":
                             decoder_layer(params, nhead, y, memory, *inverted)}
        close(layer(y, memory, **masks), expected, what=f"the output of {call}", diagnoses=diagnoses,
              alternatives=list(decoder_variants(params, nhead, y, memory, *args).values()))


# -- layers in training: train mode, a backward pass, the caller's tensors -----------------

def sandbox_tools(student):
    """functools.partial, reached inside the student's kernel: a call bound with it keeps its inputs there."""
    try:
        return student.torch.nn.modules.module.functools.partial, None, None
    except StudentCodeError as error:
        raise RuntimeError(f"grader self-check failed (functools.partial not reachable in the sandbox: "
                           f"{error}); this is not your mistake: tell the course staff") from None


def torch_vjp(kind, d_model, nhead, ff, params, inputs, cotangent):
    """(output, gradients of sum(output * cotangent) w.r.t. the parameters (a dict) and the inputs (a tuple))
    of PyTorch's layer."""
    module = torch_layer(kind, d_model, nhead, ff)
    output, pullback = torch.func.vjp(lambda p, args: torch.func.functional_call(module, p, args), params,
                                      tuple(inputs))
    return output.detach(), pullback(cotangent)


def student_vjp(student, module, params, inputs, cotangent, **kwargs):
    """The same, computed in the sandbox on the student's module (the backward pass of their own code)."""
    output, (param_grads, input_grads) = functional_vjp(student, module, params, tuple(inputs), cotangent, **kwargs)
    return output, ((param_grads, input_grads) if inputs else (param_grads,))


def gradient_mismatches(actual, expected, names):
    """The names whose gradient differs from the expected one (none when all match)."""
    if not isinstance(actual, dict):
        return list(names)
    return [name for name in names if not is_close(actual.get(name), expected[name], atol=LAYER_ATOL, rtol=LAYER_RTOL)]


def check_layer_training(student, kind, d_model, nhead, ff, seed, shapes):
    """One layer as it is trained: our weights loaded, in train mode. True when its outputs are PyTorch's and so
    its gradients were compared too."""
    cls = "EncoderLayer" if kind == "encoder" else "DecoderLayer"
    call = f"{cls}({d_model}, {nhead}, {ff})"
    params = layer_params(kind, d_model, nhead, ff, seed)
    g = generator(seed + 100)
    inputs = [torch.randn(*shape, generator=g) for shape in shapes]
    names = ["src"] if kind == "encoder" else ["tgt", "memory"]
    args = ", ".join(names)
    layer = student_layer(student, kind, d_model, nhead, ff, params)  # in eval mode
    evaluated = layer(*inputs)
    expected = torch_layer(kind, d_model, nhead, ff, params)(*inputs).detach()
    layer.train()
    # 1. train mode: dropout is 0 in this notebook, so training computes what evaluation computes (whatever the
    # layer computes: a wrong sub-layer is test_*_layer_matches_torch's to charge).
    partial, _, _ = sandbox_tools(student)
    bound = partial(layer, *inputs)  # the inputs stay in the sandbox with the call: we read them afterwards
    first, second = bound(), layer(*inputs)
    if isinstance(evaluated, torch.Tensor):
        what = f"the output of {call}({args}) in train mode (after .train(), as a freshly built module is)"
        for value, when in ((first, ""), (second, ", called a second time")):
            assert is_close(value, evaluated, atol=LAYER_ATOL, rtol=LAYER_RTOL), (
                f"{what}{when} differs from its output in eval mode: the layers here have no dropout (PyTorch's "
                "with dropout=0.0), so train and eval mode compute the same; leave out dropout and anything random"
            )
    # 2. the caller's tensors: a layer returns a new tensor, it does not change its inputs.
    after = bound.args
    for name, before, now in zip(names, inputs, after if isinstance(after, tuple) else ()):
        assert is_close(now, before, atol=0, rtol=0), (
            f"{call}({args}) changed the caller's `{name}` in place (e.g. `{name} += ...`); the caller still uses it "
            f"(a residual connection, the next layer, the backward pass): compute a new tensor, x = {name} + ..."
        )
    if not is_close(evaluated, expected, atol=LAYER_ATOL, rtol=LAYER_RTOL):
        return False  # other values, so other gradients: test_*_layer_matches_torch charges it
    # 3. the backward pass: the gradients w.r.t. the inputs and every parameter equal PyTorch's.
    cotangent = torch.randn(expected.shape, generator=generator(seed + 200))
    _, (want_params, want_inputs) = torch_vjp(kind, d_model, nhead, ff, params, inputs, cotangent)
    _, grads = student_vjp(student, layer, params, inputs, cotangent)
    got_params, got_inputs = grads if isinstance(grads, tuple) and len(grads) == 2 else (None, ())
    wrong = gradient_mismatches(got_params, want_params, list(want_params))
    wrong += [name for name, got, want in zip(names, got_inputs, want_inputs)
              if not is_close(got, want, atol=LAYER_ATOL, rtol=LAYER_RTOL)]
    zero = [name for name in wrong if name in want_params and isinstance(got_params, dict)
            and isinstance(got_params.get(name), torch.Tensor) and not bool(got_params[name].abs().sum())]
    assert not wrong, (
        f"a backward pass through {call}({args}) (weights copied from nn.Transformer{kind.title()}Layer) gives other "
        f"gradients than PyTorch's for {', '.join(wrong[:6])}{' and more' if len(wrong) > 6 else ''}"
        + (f"; no gradient at all reaches {', '.join(zero[:4])}" if zero else "")
        + ": the outputs are right, so something cuts the autograd graph (a .detach(), .data, torch.no_grad(), "
          "a tensor rebuilt from values) or changes a tensor the backward pass needs"
    )
    return True


def test_encoder_layer_training(student):
    """In train mode the output is the eval-mode output (dropout 0), the input is not changed in place, and (when the
    output is PyTorch's) the gradients of a backward pass (w.r.t. src and every parameter) equal
    nn.TransformerEncoderLayer's."""
    check_layer_training(student, "encoder", 16, 4, 32, 91, [(2, 5, 16)])


def test_decoder_layer_training(student):
    """In train mode the output is the eval-mode output (dropout 0), tgt and memory are not changed in place, and
    (when the output is PyTorch's) the gradients (w.r.t. tgt, memory and every parameter) equal
    nn.TransformerDecoderLayer's."""
    check_layer_training(student, "decoder", 16, 4, 32, 93, [(2, 4, 16), (2, 6, 16)])


# -- the tiny encoder-decoder --------------------------------------------------------------

def model_shapes(V, d_model, nhead, num_layers, ff) -> dict[str, tuple[int, ...]]:
    shapes = {"embedding.weight": (V, d_model)}
    for kind in ("encoder", "decoder"):
        layer = {n: tuple(v.shape) for n, v in torch_layer(kind, d_model, nhead, ff).state_dict().items()}
        for i in range(num_layers):
            shapes.update({f"{kind}_layers.{i}.{n}": s for n, s in layer.items()})
    shapes.update({"out.weight": (V, d_model), "out.bias": (V,)})
    return shapes


def model_params(V, d_model, nhead, num_layers, ff, seed) -> dict[str, torch.Tensor]:
    params = {"embedding.weight": torch.randn(V, d_model, generator=generator(seed)) / math.sqrt(d_model)}
    for kind in ("encoder", "decoder"):
        for i in range(num_layers):
            layer = layer_params(kind, d_model, nhead, ff, seed + 10 * i + (5 if kind == "decoder" else 0))
            params.update({f"{kind}_layers.{i}.{n}": v for n, v in layer.items()})
    g = generator(seed + 1)
    params["out.weight"] = torch.rand(V, d_model, generator=g) - 0.5
    params["out.bias"] = torch.rand(V, generator=g) - 0.5
    return params


CONFIG = dict(V=12, d_model=16, nhead=4, num_layers=2, ff=32)


def transformer(params, src, tgt_in, *, nhead, num_layers, pe=None, layers=None, masks=None, scale=True,
                add_pe=True, causal=True, src_padding=True, memory_padding=True, tgt_padding=True, ff=None,
                pad=PAD, detach=True, detach_memory=False):
    """The model of the notebook, from PyTorch's layers (or the given ones), with a switch per common mistake.
    PyTorch's layers are called with `params` (torch.func.functional_call), so that with detach=False the
    logits carry the gradients of the parameters."""
    d_model = params["embedding.weight"].size(1)
    ff = CONFIG["ff"] if ff is None else ff
    S, T = src.size(1), tgt_in.size(1)
    pe = sinusoids(max(S, T), d_model) if pe is None else pe
    padding, future = masks if masks else ((lambda t: t == pad), (lambda n: torch.ones(n, n, dtype=torch.bool).triu(1)))
    src_pad, tgt_pad = padding(src), padding(tgt_in)
    factor = math.sqrt(d_model) if scale else 1.0

    def torch_call(kind, i):
        module = torch_layer(kind, d_model, nhead, ff)
        # parameters that require grad, so that PyTorch's inference fast path is not taken (see the top)
        weights = {k: v if v.requires_grad else v.detach().requires_grad_() for k, v in
                   sub(params, f"{kind}_layers.{i}").items()}
        return lambda *args, **kwargs: torch.func.functional_call(module, weights, args, kwargs)

    x = params["embedding.weight"][src] * factor + (pe[:S] if add_pe else 0)
    for i in range(num_layers):
        layer = layers[0](i) if layers else torch_call("encoder", i)
        x = layer(x, src_key_padding_mask=src_pad if src_padding else None)
    memory = x.detach() if detach_memory else x
    y = params["embedding.weight"][tgt_in] * factor + (pe[:T] if add_pe else 0)
    for i in range(num_layers):
        layer = layers[1](i) if layers else torch_call("decoder", i)
        y = layer(y, memory, tgt_mask=future(T) if causal else None,
                  tgt_key_padding_mask=tgt_pad if tgt_padding else None,
                  memory_key_padding_mask=src_pad if memory_padding else None)
    logits = F.linear(y, params["out.weight"], params["out.bias"])
    return logits.detach() if detach else logits


def own_wiring(student, params, src, tgt_in, config=None, *, pad=PAD, max_len=64):
    """The right wiring of the student's own layers, masks and positional encoding (through the bridge)."""
    c = config or CONFIG
    encoders = [student_layer(student, "encoder", c["d_model"], c["nhead"], c["ff"], sub(params, f"encoder_layers.{i}"))
                for i in range(c["num_layers"])]
    decoders = [student_layer(student, "decoder", c["d_model"], c["nhead"], c["ff"], sub(params, f"decoder_layers.{i}"))
                for i in range(c["num_layers"])]
    pe = student.positional_encoding(max_len, c["d_model"])
    masks = (lambda t: student.padding_mask(t, pad), lambda n: student.causal_mask(n))
    return transformer(params, src, tgt_in, nhead=c["nhead"], num_layers=c["num_layers"], pe=pe, masks=masks,
                       layers=(lambda i: encoders[i], lambda i: decoders[i]), ff=c["ff"], pad=pad)


def sample_batch(seed):
    g = generator(seed)
    src = torch.randint(1, CONFIG["V"], (3, 7), generator=g)
    src[0, 5:], src[2, 3:] = PAD, PAD  # lengths 5, 7, 3
    tgt_in = torch.randint(1, CONFIG["V"], (3, 6), generator=g)
    tgt_in[1, 4:] = PAD  # lengths 6, 4, 6
    return src, tgt_in


def student_model(student):
    c = CONFIG
    return student.TinyTransformer(c["V"], c["d_model"], c["nhead"], c["num_layers"], c["ff"])


def test_transformer_parameters(student):
    """embedding, encoder_layers.i, decoder_layers.i (nn.ModuleList), out; the positional encoding is no parameter."""
    c = CONFIG
    check_names(student_model(student).state_dict(), model_shapes(**c), "TinyTransformer(12, 16, 4, 2, 32)",
                loading=False)


MODEL_MISTAKES = {
    "scale": "the embeddings are not multiplied by sqrt(d_model) (sec. 3.4)",
    "add_pe": "the positional encoding is not added to the embeddings",
    "causal": "the decoder's self-attention gets no causal mask: each position sees the future",
    "src_padding": "the encoder gets no padding mask: src_key_padding_mask=padding_mask(src, pad_id)",
    "memory_padding": "the cross-attention gets no padding mask: memory_key_padding_mask=padding_mask(src, pad_id)",
    "tgt_padding": "the decoder's self-attention gets no target padding mask: tgt_key_padding_mask",
}


def test_transformer_matches_reference(student):
    """The logits equal the same model built from nn.Transformer*Layer with the same weights (padded src and tgt)."""
    c = CONFIG
    params = model_params(**c, seed=61)
    src, tgt_in = sample_batch(62)
    model = load(student_model(student), params, "TinyTransformer(12, 16, 4, 2, 32)")
    expected = transformer(params, src, tgt_in, nhead=c["nhead"], num_layers=c["num_layers"])
    diagnoses = {MODEL_MISTAKES[key]: transformer(params, src, tgt_in, nhead=c["nhead"], num_layers=c["num_layers"],
                                                  **{key: False}) for key in MODEL_MISTAKES}
    own = attempt(own_wiring, student, params, src, tgt_in)
    call = f"TinyTransformer(12, 16, 4, 2, 32)(src, tgt_in) with src {shape_text(src.shape)}, tgt_in " \
           f"{shape_text(tgt_in.shape)}, 0 = padding"
    close(model(src, tgt_in), expected, what=f"the logits of {call}", diagnoses=diagnoses,
          alternatives=[own] if own is not None else [])


def test_transformer_causality(student):
    """The logits at position t do not change when target tokens after t change (the student's own weights)."""
    model = student_model(student).eval()
    src, tgt_in = sample_batch(71)
    tgt_in[1, 4:] = 3  # no padding: every position is a real token
    call = f"TinyTransformer(12, 16, 4, 2, 32)(src, tgt_in) with tgt_in {shape_text(tgt_in.shape)}"
    before = assert_tensor(model(src, tgt_in), what=call, shape=(3, 6, 12))
    for t in (0, 2, 4):
        changed = tgt_in.clone()
        changed[:, t + 1:] = torch.randint(1, 12, changed[:, t + 1:].shape, generator=generator(72 + t))
        after = assert_tensor(model(src, changed), what=call, shape=(3, 6, 12))
        assert is_close(after[:, :t + 1], before[:, :t + 1], atol=LAYER_ATOL, rtol=LAYER_RTOL), (
            f"changing the target tokens after position {t} changed the logits at positions 0..{t}: the decoder "
            "sees the future. Pass tgt_mask=causal_mask(T) to every decoder layer, with True above the diagonal"
        )


def test_transformer_padding_invariance(student):
    """Padding the sources further (more pad tokens at the end) does not change any logit."""
    model = student_model(student).eval()
    src, tgt_in = sample_batch(81)
    call = f"TinyTransformer(12, 16, 4, 2, 32)(src, tgt_in) with src {shape_text(src.shape)}"
    before = assert_tensor(model(src, tgt_in), what=call, shape=(3, 6, 12))
    padded = torch.cat([src, torch.full((3, 4), PAD)], dim=1)  # four more padding tokens
    after = assert_tensor(model(padded, tgt_in), what=f"the same call with src padded to {shape_text(padded.shape)}",
                          shape=(3, 6, 12))
    assert is_close(after, before, atol=LAYER_ATOL, rtol=LAYER_RTOL), (
        "padding the sources with four more pad tokens changed the logits: the padding is attended to. Pass "
        "padding_mask(src, pad_id) as src_key_padding_mask to the encoder layers and as memory_key_padding_mask "
        "to the decoder layers"
    )


def model_check(student, config, params, src, tgt_in, *, pad=PAD, max_len=64, seed_call=""):
    """The student's TinyTransformer with these options against the model built here; the model test's
    mistakes (and the right wiring of the student's own layers, masks and PE) are charged there, not here."""
    c = config
    options = {} if pad == PAD else {"pad_id": pad}
    options.update({} if max_len == 64 else {"max_len": max_len})
    shown = ", ".join(f"{k}={v}" for k, v in options.items())
    name = f"TinyTransformer({c['V']}, {c['d_model']}, {c['nhead']}, {c['num_layers']}, {c['ff']}" + \
        (f", {shown})" if shown else ")")
    model = load(student.TinyTransformer(c["V"], c["d_model"], c["nhead"], c["num_layers"], c["ff"], **options),
                 params, name)
    common = dict(nhead=c["nhead"], num_layers=c["num_layers"], ff=c["ff"], pad=pad)
    expected = transformer(params, src, tgt_in, **common)
    accepted = [transformer(params, src, tgt_in, **common, **{key: False}) for key in MODEL_MISTAKES]
    own = attempt(own_wiring, student, params, src, tgt_in, c, pad=pad, max_len=max_len)
    return model, name, expected, accepted + ([own] if own is not None else [])


def test_transformer_pad_id(student):
    """With pad_id=5 (not the default 0), the model masks the 5s and attends to token 0 like any other token."""
    c, pad = CONFIG, 5
    params = model_params(**c, seed=101)
    src, tgt_in = sample_batch(102)
    src[src == pad], tgt_in[tgt_in == pad] = 0, 0  # token 0 is a real token here, and it occurs on both sides
    src[0, 5:], src[2, 3:], tgt_in[1, 4:] = pad, pad, pad
    src[:, 0], tgt_in[:, 1] = 0, 0
    model, name, expected, accepted = model_check(student, c, params, src, tgt_in, pad=pad)
    zero_pad = transformer(params, src, tgt_in, nhead=c["nhead"], num_layers=c["num_layers"], pad=0)
    close(model(src, tgt_in), expected,
          what=f"the logits of {name}(src, tgt_in) with src {shape_text(src.shape)} and tgt_in "
               f"{shape_text(tgt_in.shape)} padded with 5 (and real tokens 0)",
          diagnoses={"the model masks token 0 instead of its pad_id: keep pad_id (self.pad_id = pad_id) and pass it "
                     "to padding_mask for the source and the target": zero_pad},
          alternatives=accepted)


LONG = dict(V=20, d_model=16, nhead=2, num_layers=3, ff=24)


def test_transformer_long_inputs(student):
    """max_len=96 (not the default 64), three layers of each kind, two heads: sources of 90 tokens and targets of 80
    (longer than the default max_len) give the logits of the model built here."""
    c, max_len = LONG, 96
    params = model_params(**c, seed=111)
    g = generator(112)
    src, tgt_in = torch.randint(1, c["V"], (2, 90), generator=g), torch.randint(1, c["V"], (2, 80), generator=g)
    src[1, 70:], tgt_in[0, 75:] = PAD, PAD
    model, name, expected, accepted = model_check(student, c, params, src, tgt_in, max_len=max_len)
    close(model(src, tgt_in), expected,
          what=f"the logits of {name}(src, tgt_in) with src {shape_text(src.shape)}, tgt_in {shape_text(tgt_in.shape)}"
               " (longer than 64 positions: the positional encoding must have max_len rows)",
          alternatives=accepted)


def test_transformer_gradients(student):
    """A backward pass through the model gives every parameter PyTorch's gradient: nothing cuts the graph between
    the loss and the embeddings, the encoder or the decoder (the memory included)."""
    c = CONFIG
    params = model_params(**c, seed=121)
    src, tgt_in = sample_batch(122)
    model = load(student_model(student), params, "TinyTransformer(12, 16, 4, 2, 32)")
    cotangent = torch.randn(3, 6, c["V"], generator=generator(123))
    common = dict(nhead=c["nhead"], num_layers=c["num_layers"], detach=False)

    def reference_grads(**knobs):
        leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
        (transformer(leaves, src, tgt_in, **common, **knobs) * cotangent).sum().backward()
        return {k: v.grad if v.grad is not None else torch.zeros_like(v) for k, v in leaves.items()}

    expected = reference_grads()
    try:
        _, (grads,) = student_vjp(student, model, params, (), cotangent, args=(src, tgt_in))
    except (StudentCodeError, ValueError, TypeError) as error:
        grads = None
        failure = str(error)
    wrong = gradient_mismatches(grads, expected, list(expected))
    if not wrong:
        return
    # One mistake costs points once: the layers' own backward passes are graded by their training tests, and the
    # model's other mistakes by test_transformer_matches_reference.
    for kind, seed, shapes in (("encoder", 91, [(2, 5, 16)]), ("decoder", 93, [(2, 4, 16), (2, 6, 16)])):
        try:
            if not check_layer_training(student, kind, c["d_model"], c["nhead"], c["ff"], seed, shapes):
                return
        except Exception:  # noqa: BLE001 - the layer's test reports it
            return
    if grads is not None:
        try:  # the right wiring of the student's own positional encoding and masks
            own = reference_grads(pe=student.positional_encoding(64, c["d_model"]),
                                  masks=(lambda t: student.padding_mask(t, PAD), lambda n: student.causal_mask(n)))
        except Exception:  # noqa: BLE001 - their tests report it
            own = None
        for variant in [own] + [reference_grads(**{key: False}) for key in MODEL_MISTAKES]:
            if variant is not None and not gradient_mismatches(grads, variant, list(expected)):
                return
    if grads is None:
        raise AssertionError(f"the backward pass through TinyTransformer(12, 16, 4, 2, 32)(src, tgt_in) failed: "
                             f"{failure[:500]}")
    zero = [name for name in wrong if isinstance(grads.get(name), torch.Tensor) and not bool(grads[name].abs().sum())]
    memory = [name for name in zero if name.startswith("encoder_layers.")]
    raise AssertionError(
        "a backward pass through TinyTransformer(12, 16, 4, 2, 32)(src, tgt_in) gives other gradients than the same "
        f"model built from PyTorch's layers for {', '.join(wrong[:6])}{' and more' if len(wrong) > 6 else ''}"
        + (f"; no gradient at all reaches {', '.join(zero[:4])}{' and more' if len(zero) > 4 else ''}" if zero else "")
        + ("; the encoder gets no gradient: the memory passed to the decoder layers must stay in the graph (no "
           ".detach())" if memory else "")
        + ": something cuts the autograd graph (a .detach(), .data, torch.no_grad())"
    )
