"""Hidden checks for 05_attention_mechanism, run in the trusted grader process.

Student code is reached only through the `student` fixture; the expected values come
from the reference notebook and from PyTorch (F.scaled_dot_product_attention,
nn.MultiheadAttention) computed here. Wrong answers are compared with the known
mistakes, computed here too, so the message can say which one it looks like.

One mistake costs points once: a test accepts (`alternatives=`) the wrong values that
another test already penalises. The mask tests accept a wrong scale or softmax dim
(test_sdpa_matches_reference's job); the multi-head tests accept the reference wiring
around the student's own scaled_dot_product_attention (the sdpa tests' job).
tests/fixtures/mutants/05_attention_mechanism/mutants.yaml lists which mistake fails
which test.

Beyond the defaults (the last section): long sequences and large scores, a backward pass
run inside the sandbox (torch.autograd through the bridge; only gradients come
back), other multi-head configurations, and the caller's tensors read back after a call.
Within a part these also fail a wrong core computation, so that it costs at least half of
the part; across parts they keep accepting the student's own attention.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.checks.memo import memoised
from grader.checks.sandbox_autograd import functional_vjp
from grader.checks.selfcheck import self_check
from grader.checks.tensors import assert_close, assert_equal, assert_tensor, is_close, shape_text, unpack
from grader.kernel.bridge import StudentCodeError, call_methods, lookup

PAIR = ("output", "weights")
PARAMETER_NAMES = [f"{layer}.{kind}" for layer in ("w_q", "w_k", "w_v", "w_o") for kind in ("weight", "bias")]


# -- inputs ----------------------------------------------------------------------------

def qkv(batch, T, S, d_k, d_v, seed):
    """Random q (*batch, T, d_k), k (*batch, S, d_k), v (*batch, S, d_v)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*batch, T, d_k, generator=g), torch.randn(*batch, S, d_k, generator=g),
            torch.randn(*batch, S, d_v, generator=g))


def random_bool_mask(shape, seed):
    """True = may attend. Every row has a True and a False, every column a True: no variant gives NaN."""
    g = torch.Generator().manual_seed(seed)
    while True:
        mask = torch.rand(shape, generator=g) < 0.5
        if mask.any(-1).all() and (~mask).any(-1).all() and mask.any(-2).all():
            return mask


def additive_mask(shape, seed):
    """A float mask: a random bias, and -inf where a random boolean mask says "may not attend"."""
    g = torch.Generator().manual_seed(seed)
    bias = torch.randn(shape, generator=g)
    return bias.masked_fill(~random_bool_mask(shape, seed + 1), float("-inf"))


def shapes(*tensors):
    return ", ".join(shape_text(t.shape) for t in tensors)


# -- attention, with the knobs students get wrong (the defaults are eq. 1) -----------------

@memoised  # fixed inputs, the same for every student: computed once per worker
def attention(q, k, v, mask=None, *, scale=None, softmax_dim=-1, mask_after_softmax=False,
              invert_mask=False, mask_before_scale=False, multiply_by_mask=False):
    d_k = q.size(-1)
    scale = 1 / math.sqrt(d_k) if scale is None else scale
    scores = q @ k.transpose(-2, -1)  # (..., T, S)
    if mask is not None and mask.dtype == torch.bool and invert_mask:
        mask = ~mask
    if mask is not None and mask_before_scale:
        scores = scores + mask
    scores = scores * scale
    if mask is not None and multiply_by_mask:
        scores = scores * mask
    elif mask is not None and not mask_after_softmax and not mask_before_scale:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = torch.softmax(scores, dim=softmax_dim)
    if mask is not None and mask_after_softmax:
        weights = weights.masked_fill(~mask, 0.0) if mask.dtype == torch.bool else weights + mask
    return weights @ v, weights


@memoised  # fixed inputs, the same for every student: computed once per worker
def scale_and_dim_variants(q, k, v, mask):
    """Correct masking with a wrong scale or softmax dim: penalised by test_sdpa_matches_reference only."""
    d_k = q.size(-1)
    variants = []
    for scale in (None, 1.0, 1 / d_k, math.sqrt(d_k)):
        for dim in (-1, -2):
            if scale is not None or dim != -1:
                variants.append(attention(q, k, v, mask, scale=scale, softmax_dim=dim))
    return variants


def call_sdpa(student, q, k, v, mask=None):
    call = f"scaled_dot_product_attention(q, k, v{', mask=mask' if mask is not None else ''})"
    result = student.scaled_dot_product_attention(q, k, v, mask=mask)
    return unpack(result, PAIR, what=call)


# -- scaled dot-product attention -------------------------------------------------------

SCALE_AND_DIM_MISTAKES = {
    "missing": "the scores are not divided by sqrt(d_k): is the 1/sqrt(d_k) scale missing?",
    "d_k": "the scores are divided by d_k instead of sqrt(d_k)",
    "times": "the scores are multiplied by sqrt(d_k) instead of divided by it",
    "dim": "the softmax runs over the queries (dim=-2) instead of the keys (dim=-1)",
}


@memoised  # fixed inputs, the same for every student: computed once per worker
def scale_and_dim_diagnoses(q, k, v, index):
    d_k = q.size(-1)
    variants = {
        "missing": attention(q, k, v, scale=1.0),
        "d_k": attention(q, k, v, scale=1 / d_k),
        "times": attention(q, k, v, scale=math.sqrt(d_k)),
        "dim": attention(q, k, v, softmax_dim=-2),
    }
    return {SCALE_AND_DIM_MISTAKES[key]: pair[index] for key, pair in variants.items()}


def test_sdpa_matches_reference(student, reference):
    """softmax(QK^T / sqrt(d_k)) V on a batch, T != S, d_k != d_v, 3-d and 4-d inputs, no mask."""
    for batch, T, S, d_k, d_v, seed in [((2,), 3, 5, 8, 6, 11), ((2, 3), 6, 4, 8, 5, 12)]:
        q, k, v = qkv(batch, T, S, d_k, d_v, seed)
        expected_output, expected_weights = reference.scaled_dot_product_attention(q, k, v)
        self_check(is_close(expected_output, F.scaled_dot_product_attention(q, k, v)), "reference vs F.sdpa")
        output, weights = call_sdpa(student, q, k, v)
        inputs = f"q, k, v of shapes {shapes(q, k, v)}"
        assert_close(weights, expected_weights, what=f"the weights for {inputs}",
                     diagnoses=scale_and_dim_diagnoses(q, k, v, 1))
        assert_close(output, expected_output, what=f"the output for {inputs}",
                     diagnoses=scale_and_dim_diagnoses(q, k, v, 0))


def test_sdpa_weights_sum_to_one(student):
    """Each query's weights are a distribution over the keys, peaked at the best-matching key."""
    q, k, v = qkv((3,), 4, 7, 8, 5, 21)
    output, weights = call_sdpa(student, q, k, v)
    what = f"the weights for q, k, v of shapes {shapes(q, k, v)}"
    assert_tensor(weights, what=what, shape=(3, 4, 7))
    assert bool((weights >= -1e-6).all()), f"{what} contain negative values ({weights.min().item():.3g}): " \
        "attention weights come out of a softmax"
    sums = weights.sum(dim=-1)
    if not bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-5)):
        hint = (" They sum to 1 over dim -2 instead: the softmax runs over the queries, not the keys."
                if bool(torch.allclose(weights.sum(dim=-2), torch.ones(3, 7), atol=1e-5)) else "")
        raise AssertionError(
            f"{what} do not sum to 1 over the last dim (the keys): row sums range from "
            f"{sums.min().item():.4g} to {sums.max().item():.4g}; apply the softmax over dim=-1.{hint}"
        )
    scores = q @ k.transpose(-2, -1)  # (3, 4, 7)
    top2 = scores.topk(2, dim=-1).values
    clear = (top2[..., 0] - top2[..., 1]) > 1e-3  # rows without a near tie
    wrong = (weights.argmax(-1) != scores.argmax(-1)) & clear
    assert not bool(wrong.any()), (
        f"{what}: in {int(wrong.sum())} of {int(clear.sum())} rows the largest weight is not on the key with "
        "the largest score q·k; the weights must be the softmax of the scores, which keeps their order"
    )
    assert_close(output, weights @ v, what="the output (it must be weights @ v, with the weights you returned)")


MASK_MISTAKES = {
    "after": "the weights are masked after the softmax; set the masked scores to -inf before the softmax, "
             "so each row still sums to 1",
    "inverted": "the mask's meaning is inverted; True means 'may attend' (as in F.scaled_dot_product_attention), "
                "so set the scores to -inf where the mask is False",
    "ignored": "the mask is ignored",
    "multiplied": "the scores are multiplied by the mask; set the masked scores to -inf instead",
}


@memoised  # fixed inputs, the same for every student: computed once per worker
def mask_diagnoses(q, k, v, mask, index):
    variants = {
        "after": attention(q, k, v, mask, mask_after_softmax=True),
        "inverted": attention(q, k, v, mask, invert_mask=True),
        "ignored": attention(q, k, v),
        "multiplied": attention(q, k, v, mask, multiply_by_mask=True),
    }
    return {MASK_MISTAKES[key]: pair[index] for key, pair in variants.items()}


def test_sdpa_bool_mask(student, reference):
    """A boolean mask (True = may attend) broadcast over the heads, and a (T, S) mask over the batch."""
    cases = [
        (qkv((2, 3), 4, 6, 8, 5, 31), random_bool_mask((2, 1, 4, 6), 32)),  # (B, h, ...) with a (B, 1, T, S) mask
        (qkv((2,), 5, 3, 8, 8, 33), random_bool_mask((5, 3), 34)),  # (B, ...) with a (T, S) mask
    ]
    for (q, k, v), mask in cases:
        expected_output, expected_weights = reference.scaled_dot_product_attention(q, k, v, mask=mask)
        self_check(is_close(expected_output, F.scaled_dot_product_attention(q, k, v, attn_mask=mask)),
                   "reference vs F.sdpa with a bool mask")
        output, weights = call_sdpa(student, q, k, v, mask)
        others = scale_and_dim_variants(q, k, v, mask)
        inputs = f"q, k, v of shapes {shapes(q, k, v)} and a bool mask of shape {shape_text(mask.shape)}"
        assert_close(weights, expected_weights, what=f"the weights for {inputs}",
                     diagnoses=mask_diagnoses(q, k, v, mask, 1), alternatives=[w for _, w in others])
        assert_close(output, expected_output, what=f"the output for {inputs}",
                     diagnoses=mask_diagnoses(q, k, v, mask, 0), alternatives=[o for o, _ in others])


ADDITIVE_MISTAKES = {
    "ignored": "the float mask is ignored, or treated as a boolean mask; a float mask is added to the scores",
    "before": "the mask is added before the scores are divided by sqrt(d_k); add it to the scaled scores",
    "after": "the mask is added to the weights after the softmax; add it to the scores before the softmax",
}


def test_sdpa_additive_mask(student, reference):
    """A float mask is added to the scaled scores: a bias, with -inf where a key is masked."""
    q, k, v = qkv((2,), 4, 6, 8, 5, 41)
    mask = additive_mask((4, 6), 42)
    expected_output, expected_weights = reference.scaled_dot_product_attention(q, k, v, mask=mask)
    self_check(is_close(expected_output, F.scaled_dot_product_attention(q, k, v, attn_mask=mask)),
               "reference vs F.sdpa with a float mask")
    output, weights = call_sdpa(student, q, k, v, mask)
    others = scale_and_dim_variants(q, k, v, mask)
    variants = {
        "ignored": attention(q, k, v),
        "before": attention(q, k, v, mask, mask_before_scale=True),
        "after": attention(q, k, v, mask, mask_after_softmax=True),
    }
    inputs = f"q, k, v of shapes {shapes(q, k, v)} and a float mask of shape {shape_text(mask.shape)}"
    for index, actual, expected in ((1, weights, expected_weights), (0, output, expected_output)):
        assert_close(actual, expected, what=f"the {PAIR[index]} for {inputs}",
                     alternatives=[pair[index] for pair in others],
                     diagnoses={ADDITIVE_MISTAKES[key]: pair[index] for key, pair in variants.items()})


# -- the causal mask --------------------------------------------------------------------

def test_causal_mask(student):
    """causal_mask(size) is True on and below the diagonal, False above it."""
    for size in (1, 3, 6):
        actual = student.causal_mask(size)
        expected = torch.ones(size, size, dtype=torch.bool).tril()
        if isinstance(actual, torch.Tensor) and actual.shape == expected.shape and actual.dtype == torch.bool \
                and not torch.equal(actual, expected):
            if torch.equal(actual, expected.T):
                raise AssertionError(f"causal_mask({size}) is True on and above the diagonal: that lets each "
                                     "query see the future; True must be on and below it (query t sees keys 0..t)")
            if torch.equal(actual, expected.tril(-1)):
                raise AssertionError(f"causal_mask({size}) is False on the diagonal: a position may attend to "
                                     "itself (and query 0 would have no key at all)")
        assert_equal(actual, expected, what=f"causal_mask({size})")


def test_causal_attention_ignores_future(student):
    """With causal_mask, later tokens do not change earlier outputs, and every output sees the first token."""
    T = 6
    g = torch.Generator().manual_seed(51)
    x = 0.5 * torch.randn(2, T, 8, generator=g)  # (B, T, d): self-attention, q = k = v = x, softmax unsaturated
    mask = assert_tensor(student.causal_mask(T), what=f"causal_mask({T})", shape=(T, T))
    what = f"the output of scaled_dot_product_attention(x, x, x, mask=causal_mask({T})) for x of shape (2, 6, 8)"
    output, _ = call_sdpa(student, x, x, x, mask)
    assert_tensor(output, what=what, shape=(2, T, 8))
    assert bool(torch.isfinite(output).all()), f"{what} contains NaN or inf: does every query have a key to attend to?"

    future = x.clone()
    future[:, 4:] = 0.5 * torch.randn(2, T - 4, 8, generator=g)  # change tokens 4 and 5 only
    changed, _ = call_sdpa(student, future, future, future, mask)
    assert_tensor(changed, what=what, shape=(2, T, 8))
    assert is_close(changed[:, :4], output[:, :4]), (
        "changing tokens 4 and 5 changed the outputs at positions 0..3: the attention leaks information from "
        "the future (check the mask's orientation, and that it is applied to the scores over the keys, dim=-1, "
        "before the softmax)"
    )
    first = x.clone()
    first[:, 0] = 0.5 * torch.randn(2, 8, generator=g)  # change token 0 only
    changed, _ = call_sdpa(student, first, first, first, mask)
    assert_tensor(changed, what=what, shape=(2, T, 8))
    assert not is_close(changed[:, 1:], output[:, 1:], atol=1e-6, rtol=0), (
        "changing token 0 did not change the outputs at positions 1..5, although they may attend to token 0: "
        "the output must be the softmax-weighted average of the values of all the keys a query may see"
    )


# -- multi-head attention ---------------------------------------------------------------

def random_parameters(d_model, seed):
    """Weights for the four projections, drawn here so that no student can choose them."""
    g = torch.Generator().manual_seed(seed)
    bound = 1 / math.sqrt(d_model)
    return {name: (torch.rand((d_model, d_model) if name.endswith("weight") else (d_model,), generator=g) * 2 - 1)
            * bound for name in PARAMETER_NAMES}


def check_parameter_names(state, d_model, num_heads, *, loading=False):
    call = f"MultiHeadAttention({d_model}, {num_heads}).state_dict()"
    why = "; the grader loads its own weights into them by name, so it cannot run this check" if loading else ""
    assert isinstance(state, dict), f"{call} returned a {type(state).__name__}: is MultiHeadAttention an nn.Module?"
    missing = [name for name in PARAMETER_NAMES if name not in state]
    unexpected = [name for name in state if name not in PARAMETER_NAMES]
    assert not missing and not unexpected, (
        f"{call} has the parameters {sorted(state) or 'none'}; expected exactly {PARAMETER_NAMES}: four "
        "nn.Linear(d_model, d_model) layers with bias, named w_q, w_k, w_v and w_o"
        + (f" (missing: {missing})" if missing else "") + (f" (unexpected: {unexpected})" if unexpected else "")
        + why
    )
    for name in PARAMETER_NAMES:
        expected = (d_model, d_model) if name.endswith("weight") else (d_model,)
        assert_tensor(state[name], what=f"{call}['{name}']", shape=expected)


def loaded_mha(student, d_model, num_heads, seed):
    """The student's module with our weights loaded (and checked to be loaded), in eval mode."""
    mha = student.MultiHeadAttention(d_model, num_heads)
    (state,) = call_methods(mha, ("state_dict",))
    check_parameter_names(state, d_model, num_heads, loading=True)
    parameters = random_parameters(d_model, seed)
    # load, eval (a student's dropout must not change the verdict), read back: one round trip
    _, _, back = call_methods(mha, ("load_state_dict", (parameters,)), ("eval",), ("state_dict",))
    assert all(is_close(back[name], parameters[name], atol=0, rtol=0) for name in PARAMETER_NAMES), (
        "after load_state_dict the parameters are not the ones loaded; do not override load_state_dict or state_dict"
    )
    return mha, parameters


def torch_mha(parameters, num_heads, query, key, value, mask=None):
    """nn.MultiheadAttention with the same parameters; its bool attn_mask means True = may NOT attend."""
    d_model = query.size(-1)
    module = nn.MultiheadAttention(d_model, num_heads, batch_first=True)
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.cat([parameters[f"{n}.weight"] for n in ("w_q", "w_k", "w_v")]))
        module.in_proj_bias.copy_(torch.cat([parameters[f"{n}.bias"] for n in ("w_q", "w_k", "w_v")]))
        module.out_proj.weight.copy_(parameters["w_o.weight"])
        module.out_proj.bias.copy_(parameters["w_o.bias"])
    attn_mask = None
    if mask is not None:
        B, T, S = query.size(0), query.size(1), key.size(1)
        if mask.dim() == 4:  # (B or 1, h or 1, T or 1, S) -> (B * h, T, S), torch's per-head layout
            mask = mask.expand(B, num_heads, T, S).reshape(B * num_heads, T, S)
        attn_mask = ~mask if mask.dtype == torch.bool else mask
    module.eval()
    with torch.no_grad():
        output, weights = module(query, key, value, attn_mask=attn_mask, need_weights=True,
                                 average_attn_weights=False)
    return output, weights


@memoised  # fixed inputs, the same for every student: computed once per worker
def wiring(parameters, num_heads, query, key, value, mask=None, *, attend=attention, split="transpose",
           merge="transpose", out_projection=True, value_from="value"):
    """MultiHead(Q, K, V), eq. sec. 3.2.2, with the knobs students get wrong."""
    B, T, d_model = query.shape
    S = key.size(1)
    h, d_k = num_heads, d_model // num_heads

    def project(x, name, length):
        y = F.linear(x, parameters[f"{name}.weight"], parameters[f"{name}.bias"])  # (B, L, d_model)
        if split == "view":  # (B, L, d_model) -> (B, h, L, d_k) without moving the head axis: wrong
            return y.view(B, h, length, d_k)
        return y.view(B, length, h, d_k).transpose(1, 2)  # (B, h, L, d_k)

    q = project(query, "w_q", T)
    k = project(key, "w_k", S)
    v = project(key if value_from == "key" else value, "w_v", S)
    heads, weights = attend(q, k, v, mask=mask)  # (B, h, T, d_k), (B, h, T, S)
    if merge == "reshape":  # (B, h, T, d_k) -> (B, T, d_model) without moving the head axis back: wrong
        concat = heads.reshape(B, T, d_model)
    else:
        concat = heads.transpose(1, 2).reshape(B, T, d_model)
    output = F.linear(concat, parameters["w_o.weight"], parameters["w_o.bias"]) if out_projection else concat
    return output, weights


def with_student_attention(student, parameters, num_heads, query, key, value, mask=None):
    """The correct wiring around the student's own scaled_dot_product_attention (None if that fails):
    a mistake inside their attention is penalised by the sdpa tests, not again here."""
    def attend(q, k, v, mask=None):
        output, weights = student.scaled_dot_product_attention(q, k, v, mask=mask)
        if not (isinstance(output, torch.Tensor) and isinstance(weights, torch.Tensor)):
            raise TypeError("not tensors")
        return output, weights
    try:
        return wiring(parameters, num_heads, query, key, value, mask, attend=attend)
    except Exception:  # noqa: BLE001 - anything wrong there is reported by the sdpa tests
        return None


def call_mha(mha, query, key, value, mask=None, *, call):
    return unpack(mha(query, key, value, mask=mask), PAIR, what=call)


MHA_MISTAKES = {
    "merge": "the heads are merged in the wrong order: transpose (B, h, T, d_k) back to (B, T, h, d_k) "
             "before reshaping to (B, T, d_model)",
    "split": "the heads are split in the wrong order: view the projection as (B, T, h, d_k), then "
             "transpose to (B, h, T, d_k)",
    "no_w_o": "the output projection w_o is not applied to the concatenated heads",
    "averaged": "the weights are averaged over the heads; return them per head, shape (B, h, T, S)",
    "unmasked": "the mask does not reach the attention: pass mask=mask on to your attention function",
    "value_from_key": "the values are projected from `key` instead of `value`",
    "self": "the keys and values are computed from the query, not from `key` and `value`",
}


@memoised  # fixed inputs, the same for every student: computed once per worker
def mha_diagnoses(parameters, num_heads, query, key, value, mask=None, *, index):
    variants = {
        "merge": wiring(parameters, num_heads, query, key, value, mask, merge="reshape"),
        "split": wiring(parameters, num_heads, query, key, value, mask, split="view"),
        "no_w_o": wiring(parameters, num_heads, query, key, value, mask, out_projection=False),
        "unmasked": wiring(parameters, num_heads, query, key, value) if mask is not None else None,
        "value_from_key": wiring(parameters, num_heads, query, key, value, mask, value_from="key"),
        "self": (wiring(parameters, num_heads, query, query, query, mask)
                 if key is not query and (mask is None or key.size(1) == query.size(1)) else None),
    }
    found = {MHA_MISTAKES[key]: pair[index] for key, pair in variants.items() if pair is not None}
    if index == 1:
        found[MHA_MISTAKES["averaged"]] = wiring(parameters, num_heads, query, key, value, mask)[1].mean(dim=1)
    return found


def test_mha_parameters(student):
    """Four nn.Linear(d_model, d_model) with bias named w_q, w_k, w_v, w_o; num_heads and d_k stored."""
    for d_model, num_heads in ((16, 4), (12, 3)):
        mha = student.MultiHeadAttention(d_model, num_heads)
        check_parameter_names(mha.state_dict(), d_model, num_heads)
        call = f"MultiHeadAttention({d_model}, {num_heads})"
        assert mha.num_heads == num_heads, f"{call}.num_heads is {mha.num_heads!r}, expected {num_heads}"
        assert mha.d_k == d_model // num_heads, f"{call}.d_k is {mha.d_k!r}, expected d_model // num_heads = " \
            f"{d_model // num_heads}"


def test_mha_matches_torch(student):
    """Self-attention output equals nn.MultiheadAttention's with the same weights (two sizes, batch > 1)."""
    for d_model, num_heads, B, T, seed in ((16, 4, 2, 5, 61), (12, 3, 3, 4, 62)):
        mha, parameters = loaded_mha(student, d_model, num_heads, seed)
        x = torch.randn(B, T, d_model, generator=torch.Generator().manual_seed(seed + 100))  # (B, T, d_model)
        expected, _ = torch_mha(parameters, num_heads, x, x, x)
        self_check(is_close(wiring(parameters, num_heads, x, x, x)[0], expected), "wiring vs nn.MultiheadAttention")
        call = f"MultiHeadAttention({d_model}, {num_heads})(x, x, x) with x of shape {shape_text(x.shape)}"
        output, _ = call_mha(mha, x, x, x, call=call)
        carried = with_student_attention(student, parameters, num_heads, x, x, x)
        assert_close(output, expected, what=f"the output of {call} (weights copied into nn.MultiheadAttention)",
                     diagnoses=mha_diagnoses(parameters, num_heads, x, x, x, index=0),
                     alternatives=[carried[0]] if carried else [])


def test_mha_weights_per_head(student):
    """The returned weights are per head, (B, h, T, S), and equal nn.MultiheadAttention's."""
    d_model, num_heads, B, T = 16, 4, 2, 5
    mha, parameters = loaded_mha(student, d_model, num_heads, 71)
    x = torch.randn(B, T, d_model, generator=torch.Generator().manual_seed(72))
    _, expected = torch_mha(parameters, num_heads, x, x, x)
    call = f"MultiHeadAttention({d_model}, {num_heads})(x, x, x) with x of shape {shape_text(x.shape)}"
    _, weights = call_mha(mha, x, x, x, call=call)
    carried = with_student_attention(student, parameters, num_heads, x, x, x)
    assert_close(weights, expected, what=f"the weights of {call} (expected one (T, S) map per head)",
                 diagnoses=mha_diagnoses(parameters, num_heads, x, x, x, index=1),
                 alternatives=[carried[1]] if carried else [])


def test_mha_with_mask(student):
    """Masks broadcast over the heads: a (T, T) causal bool mask, a (B, 1, 1, S) padding mask, a float mask."""
    d_model, num_heads, B, T = 16, 4, 2, 5
    mha, parameters = loaded_mha(student, d_model, num_heads, 81)
    x = torch.randn(B, T, d_model, generator=torch.Generator().manual_seed(82))
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    padding = torch.ones(B, 1, 1, T, dtype=torch.bool)
    padding[0, ..., 3:] = False  # sequence 0 has 3 real tokens, sequence 1 has 5
    causal_float = torch.zeros(T, T).masked_fill(~causal, float("-inf"))
    for mask, name in ((causal, "a (5, 5) causal bool mask"), (padding, "a (2, 1, 1, 5) padding bool mask"),
                       (causal_float, "a (5, 5) causal float mask (0 and -inf)")):
        _, expected = torch_mha(parameters, num_heads, x, x, x, mask)
        call = f"MultiHeadAttention({d_model}, {num_heads})(x, x, x, mask=mask) with {name}"
        _, weights = call_mha(mha, x, x, x, mask, call=call)
        carried = with_student_attention(student, parameters, num_heads, x, x, x, mask)
        accepted = [expected.mean(dim=1)]  # per-head weights are test_mha_weights_per_head's job
        if carried:
            accepted += [carried[1], carried[1].mean(dim=1)]
        assert_close(weights, expected, what=f"the weights of {call}",
                     diagnoses=mha_diagnoses(parameters, num_heads, x, x, x, mask, index=1), alternatives=accepted)


def test_mha_cross_attention(student):
    """Queries from one sequence (T = 3), keys and values from another (S = 6), key != value.

    One head, so that head bookkeeping (test_mha_matches_torch's job) cannot fail it."""
    d_model, num_heads, B, T, S = 8, 1, 2, 3, 6
    mha, parameters = loaded_mha(student, d_model, num_heads, 91)
    g = torch.Generator().manual_seed(92)
    query = torch.randn(B, T, d_model, generator=g)
    key = torch.randn(B, S, d_model, generator=g)
    value = torch.randn(B, S, d_model, generator=g)
    expected, _ = torch_mha(parameters, num_heads, query, key, value)
    call = (f"MultiHeadAttention({d_model}, {num_heads})(query, key, value) with query {shape_text(query.shape)}, "
            f"key and value {shape_text(key.shape)}")
    output, _ = call_mha(mha, query, key, value, call=call)
    carried = with_student_attention(student, parameters, num_heads, query, key, value)
    assert_close(output, expected, what=f"the output of {call}",
                 diagnoses=mha_diagnoses(parameters, num_heads, query, key, value, index=0),
                 alternatives=[carried[0]] if carried else [])


# -- beyond the defaults: long inputs, gradients, the caller's tensors -------------------------
#
# These run the student's code the way a model uses it: long sequences and large scores,
# a backward pass (torch.autograd inside the sandbox, through the bridge: only
# tensors come back), and the caller's tensors read back after the call.

def sandbox_partial(student, function, *args, **kwargs):
    """functools.partial(function, *args, **kwargs), built in the sandbox: its tensors stay there, so
    calling it and reading `.args` / `.keywords` back shows what the student's code did to the caller's
    tensors (a tensor that crosses the boundary is always a copy)."""
    try:
        (partial,) = lookup(student, "torch.nn.modules.module.functools.partial")  # one round trip
    except StudentCodeError as error:
        raise RuntimeError(f"grader self-check failed (functools.partial not reachable in the sandbox: {error}); "
                           "this is not your mistake: tell the course staff") from None
    return partial(function, *args, **kwargs)


def sdpa_gradients(student, q, k, v, mask, grad_output, grad_weights):
    """((output, weights), (dq, dk, dv)) of the student's attention: one backward pass in the sandbox."""
    function = sandbox_partial(student, student.scaled_dot_product_attention, mask=mask)
    (vjp,) = lookup(student, "torch.autograd.functional.vjp")
    result = vjp(function, (q, k, v), (grad_output, grad_weights))
    return unpack(result, ("outputs", "gradients"), what="torch.autograd.functional.vjp")


def reference_gradients(reference, q, k, v, mask, grad_output, grad_weights):
    """(dq, dk, dv) of the reference attention for the cotangents (grad_output, grad_weights)."""
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    output, weights = reference.scaled_dot_product_attention(*leaves, mask=mask)
    return torch.autograd.grad((output, weights), leaves, (grad_output, grad_weights))


def assert_same_inputs(after, before, *, call, names):
    """The caller's tensors, read back after the call, are as they were (values, shape and dtype)."""
    for name, new, old in zip(names, after, before):
        same = isinstance(new, torch.Tensor) and new.shape == old.shape and new.dtype == old.dtype \
            and bool(torch.equal(new, old))
        if not same:
            change = (f"its shape became {shape_text(new.shape)}" if isinstance(new, torch.Tensor)
                      and new.shape != old.shape else "its values changed")
            raise AssertionError(
                f"after {call} the caller's `{name}` was modified in place ({change}): the caller still uses it "
                "(the same x is often passed as q, k and v, and a mask is shared by every layer). Use out-of-place "
                "operations on your inputs (q = q / s, not q /= s or q.div_(s); mask.unsqueeze(0), not "
                "mask.unsqueeze_(0))"
            )


def long_padding_mask(B, S, lengths):
    """(B, 1, S) bool, shared by every query: sequence b has lengths[b] real keys, the rest is padding."""
    mask = torch.zeros(B, 1, S, dtype=torch.bool)
    for b, n in enumerate(lengths):
        mask[b, :, :n] = True
    return mask


def test_sdpa_long_and_large_inputs(student, reference):
    """Long sequences (T = 40, S = 120, d_k = 64) with a padding mask, and large scores with a float mask."""
    B, T, S, d_k, d_v = 2, 40, 120, 64, 16
    q, k, v = qkv((B,), T, S, d_k, d_v, 102)
    padding = long_padding_mask(B, S, (S, 75))
    big_q, big_k, big_v = (8 * t for t in qkv((2, 2), 24, 30, 64, 8, 103))  # scaled scores of several hundred
    bias = additive_mask((24, 30), 104)
    cases = [(q, k, v, padding, f"a bool padding mask of shape {shape_text(padding.shape)}"),
             (big_q, big_k, big_v, bias, f"large scores (entries of q and k of size ~8) and a float mask of shape "
                                        f"{shape_text(bias.shape)}")]
    for q, k, v, mask, name in cases:
        expected_output, expected_weights = reference.scaled_dot_product_attention(q, k, v, mask=mask)
        self_check(is_close(expected_output, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-4),
                   "reference vs F.sdpa on long inputs")
        output, weights = call_sdpa(student, q, k, v, mask)
        inputs = f"q, k, v of shapes {shapes(q, k, v)} and {name}"
        for index, actual in ((1, weights), (0, output)):
            finite = not isinstance(actual, torch.Tensor) or not actual.is_floating_point() \
                or bool(torch.isfinite(actual).all())
            if not finite:
                raise AssertionError(
                    f"the {PAIR[index]} for {inputs} contain NaN or inf although every query keeps a key: does your "
                    "softmax overflow? exp of a large score is inf in float32; subtract each row's maximum before "
                    "exp (torch.softmax does), the result is the same")
        assert_close(weights, expected_weights, what=f"the weights for {inputs}", atol=1e-5, rtol=1e-3,
                     diagnoses={**scale_and_dim_diagnoses(q, k, v, 1), **mask_diagnoses(q, k, v, mask, 1)})
        assert_close(output, expected_output, what=f"the output for {inputs}", atol=1e-4, rtol=1e-3,
                     diagnoses={**scale_and_dim_diagnoses(q, k, v, 0), **mask_diagnoses(q, k, v, mask, 0)})


GRADIENT_CASES = [  # (batch, T, S, d_k, d_v, mask kind, seed)
    ((2, 3), 4, 6, 8, 5, None, 111),
    ((2,), 5, 7, 8, 8, "bool", 112),
    ((2,), 4, 6, 8, 5, "float", 113),
]


def gradient_case(batch, T, S, d_k, d_v, kind, seed):
    q, k, v = qkv(batch, T, S, d_k, d_v, seed)
    mask = {None: None, "bool": random_bool_mask((T, S), seed + 1), "float": additive_mask((T, S), seed + 1)}[kind]
    g = torch.Generator().manual_seed(seed + 2)
    grad_output = torch.randn(*batch, T, d_v, generator=g)
    grad_weights = torch.randn(*batch, T, S, generator=g)
    return q, k, v, mask, grad_output, grad_weights


def test_sdpa_gradients(student, reference):
    """A backward pass through the attention gives the reference's gradients for q, k and v (nothing detached)."""
    for batch, T, S, d_k, d_v, kind, seed in GRADIENT_CASES:
        q, k, v, mask, grad_output, grad_weights = gradient_case(batch, T, S, d_k, d_v, kind, seed)
        expected = reference_gradients(reference, q, k, v, mask, grad_output, grad_weights)
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        torch_output = F.scaled_dot_product_attention(*leaves, attn_mask=mask)
        torch_gradients = torch.autograd.grad(torch_output, leaves, grad_output)
        own = reference_gradients(reference, q, k, v, mask, grad_output, torch.zeros_like(grad_weights))
        self_check(all(is_close(a, b) for a, b in zip(torch_gradients, own)), "reference gradients vs F.sdpa's")
        with_mask = f" and a {kind} mask of shape {shape_text(mask.shape)}" if mask is not None else ""
        call = f"scaled_dot_product_attention(q, k, v{', mask=mask' if mask is not None else ''})"
        what = f"a backward pass through {call} with q, k, v of shapes {shapes(q, k, v)}{with_mask}"
        try:
            _, gradients = sdpa_gradients(student, q, k, v, mask, grad_output, grad_weights)
        except StudentCodeError as error:
            if "in-place operation" in str(error):
                return  # an in-place edit of q, k or v: test_sdpa_leaves_inputs_unchanged's job
            raise
        gradients = unpack(gradients, ("dq", "dk", "dv"), what=what)
        for name, actual, wanted in zip("qkv", gradients, expected):
            if isinstance(actual, torch.Tensor) and actual.shape == wanted.shape and not bool(actual.any()) \
                    and bool(wanted.any()):
                raise AssertionError(
                    f"{what}: the gradient with respect to {name} is zero everywhere; something cuts {name} off the "
                    "autograd graph (.detach(), .data, torch.no_grad(), torch.tensor(...) of a tensor, or a detour "
                    "through numpy / .item()), so a model built on your attention could not learn through it")
            assert_close(actual, wanted, what=f"the gradient with respect to {name} of {what}", atol=1e-4, rtol=1e-3)


def test_sdpa_leaves_inputs_unchanged(student):
    """q, k, v and the mask the caller passed are not modified in place (values and shapes)."""
    for batch, T, S, d_k, d_v, kind, seed in GRADIENT_CASES:
        q, k, v, mask, _, _ = gradient_case(batch, T, S, d_k, d_v, kind, seed)
        call = f"scaled_dot_product_attention(q, k, v{', mask=mask' if mask is not None else ''})"
        function = sandbox_partial(student, student.scaled_dot_product_attention, q, k, v, mask=mask)
        for part, result in zip(PAIR, unpack(function(), PAIR, what=call)):
            assert_tensor(result, what=f"the {part} of {call}")  # a call that works, and leaves its inputs alone
        after = list(function.args) + ([function.keywords.get("mask")] if mask is not None else [])
        before = [q, k, v] + ([mask] if mask is not None else [])
        assert_same_inputs(after, before, call=call, names=["q", "k", "v", "mask"])


MHA_CONFIGURATIONS = [  # (d_model, num_heads, B, T, S, mask kind, seed): beyond (16, 4) self-attention
    (32, 8, 1, 7, 11, "padding", 121),  # cross-attention, 8 heads, one sequence, padded keys
    (12, 12, 3, 9, 9, "causal", 122),  # as many heads as features: d_k = 1
    (24, 1, 2, 10, 4, None, 123),  # one head, S < T
    (64, 4, 2, 40, 40, "per_sequence", 124),  # long sequences, a (B, 1, T, S) causal and padding mask
]


def configuration_inputs(d_model, B, T, S, kind, seed):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(B, T, d_model, generator=g)
    key = torch.randn(B, S, d_model, generator=g)
    value = torch.randn(B, S, d_model, generator=g)
    if T == S and kind in ("causal", "per_sequence"):
        key = value = query  # self-attention
    lengths = [S - 3 * b for b in range(B)]
    padding = torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]  # (B, S)
    causal = torch.ones(T, S, dtype=torch.bool).tril()
    mask = {None: None, "padding": padding[:, None, None, :], "causal": causal,
            "per_sequence": (causal[None] & padding[:, None, :])[:, None]}[kind]
    return query, key, value, mask


def describe_mask(mask):
    return "" if mask is None else f", mask=mask) with a bool mask of shape {shape_text(mask.shape)}"


def test_mha_configurations(student):
    """Other sizes: 8 heads, d_k = 1, one head, one sequence, S != T, long sequences, per-sequence masks."""
    for d_model, num_heads, B, T, S, kind, seed in MHA_CONFIGURATIONS:
        mha, parameters = loaded_mha(student, d_model, num_heads, seed)
        query, key, value, mask = configuration_inputs(d_model, B, T, S, kind, seed + 100)
        expected_output, expected_weights = torch_mha(parameters, num_heads, query, key, value, mask)
        self_check(is_close(wiring(parameters, num_heads, query, key, value, mask)[0], expected_output, atol=1e-4),
                   "wiring vs nn.MultiheadAttention (configurations)")
        call = (f"MultiHeadAttention({d_model}, {num_heads})(query, key, value{describe_mask(mask) or ')'} with "
                f"query {shape_text(query.shape)}, key and value {shape_text(key.shape)}")
        output, weights = call_mha(mha, query, key, value, mask, call=call)
        carried = with_student_attention(student, parameters, num_heads, query, key, value, mask)
        assert_close(output, expected_output, what=f"the output of {call}",
                     diagnoses=mha_diagnoses(parameters, num_heads, query, key, value, mask, index=0),
                     alternatives=[carried[0]] if carried else [])
        accepted = [expected_weights.mean(dim=1)]  # per-head weights are test_mha_weights_per_head's job
        if carried:
            accepted += [carried[1], carried[1].mean(dim=1)]
        assert_close(weights, expected_weights, what=f"the weights of {call}",
                     diagnoses=mha_diagnoses(parameters, num_heads, query, key, value, mask, index=1),
                     alternatives=accepted)


def mha_gradients(student, mha, parameters, query, key, value, mask, grad_output):
    """((output, weights), parameter gradients, (d query, d key, d value)) of the student's module: one forward
    pass, then one backward pass in the sandbox with torch.autograd.functional (the parameters are ours, passed in
    by name through torch.func.functional_call). Only the output gets a cotangent: the weights' would be zero."""
    kwargs = {"mask": mask} if mask is not None else None
    (functional_call,) = lookup(student, "torch.func.functional_call")
    outputs = functional_call(mha, parameters, (query, key, value), kwargs)
    output, weights = unpack(outputs, PAIR, what="the multi-head attention")
    _, (parameter_grads, input_grads) = functional_vjp(student, mha, parameters, (query, key, value), grad_output,
                                                       kwargs=kwargs, pick=0)
    return (output, weights), parameter_grads, input_grads


@memoised  # fixed inputs, the same for every student: computed once per worker
def expected_mha_gradients(parameters, num_heads, query, key, value, mask, grad_output, attend=attention):
    """Gradients of <grad_output, MultiHead(query, key, value)> for every parameter and input, here."""
    leaves = {name: tensor.clone().requires_grad_() for name, tensor in parameters.items()}
    inputs = [t.clone().requires_grad_() for t in (query, key, value)]
    output, _ = wiring(leaves, num_heads, *inputs, mask, attend=attend)
    grads = torch.autograd.grad(output, [*leaves.values(), *inputs], grad_output)
    return dict(zip(leaves, grads[:len(leaves)])), grads[len(leaves):]


def student_attention_backward_ok(student, reference, shape_q, shape_k, mask, seed):
    """Does the student's own attention give the reference's output and gradients on heads-shaped inputs?
    If not, the sdpa tests charge it, and the multi-head gradients check only what does not depend on it."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = torch.randn(*shape_q, generator=g), torch.randn(*shape_k, generator=g), torch.randn(*shape_k, generator=g)
    grad_output = torch.randn(*shape_q, generator=g)
    grad_weights = torch.zeros(*shape_q[:-1], shape_k[-2])
    try:
        (output, _), gradients = sdpa_gradients(student, q, k, v, mask, grad_output, grad_weights)
    except (StudentCodeError, AssertionError):
        return False
    expected_output, _ = reference.scaled_dot_product_attention(q, k, v, mask=mask)
    expected = reference_gradients(reference, q, k, v, mask, grad_output, grad_weights)
    return is_close(output, expected_output) and isinstance(gradients, (tuple, list)) and len(gradients) == 3 \
        and all(is_close(a, b, atol=1e-4, rtol=1e-3) for a, b in zip(gradients, expected))


def test_mha_gradients(student, reference):
    """A backward pass reaches every parameter and input: w_q, w_k, w_v, w_o, query, key and value get the
    gradients of nn.MultiheadAttention's function (cross-attention, a float padding mask)."""
    d_model, num_heads, B, T, S = 16, 4, 2, 5, 7
    mha, parameters = loaded_mha(student, d_model, num_heads, 131)
    g = torch.Generator().manual_seed(132)
    query, key, value = (torch.randn(B, L, d_model, generator=g) for L in (T, S, S))
    mask = torch.zeros(B, 1, 1, S)
    mask[1, ..., 5:] = float("-inf")  # a float padding mask: sequence 1 has 5 real keys
    grad_output = torch.randn(B, T, d_model, generator=g)
    expected_output, _ = torch_mha(parameters, num_heads, query, key, value, mask)
    self_check(is_close(wiring(parameters, num_heads, query, key, value, mask)[0], expected_output),
               "wiring vs nn.MultiheadAttention (gradients)")
    call = (f"MultiHeadAttention({d_model}, {num_heads})(query, key, value, mask=mask) with query "
            f"{shape_text(query.shape)}, key and value {shape_text(key.shape)}, a (2, 1, 1, 7) float padding mask")
    what = f"a backward pass through {call}"
    (output, _), parameter_grads, input_grads = mha_gradients(student, mha, parameters, query, key, value, mask,
                                                              grad_output)
    assert isinstance(parameter_grads, dict), f"{what}: the parameter gradients did not come back as a dict"
    input_grads = unpack(input_grads, ("d query", "d key", "d value"), what=what)
    own_attention = student_attention_backward_ok(student, reference, (B, num_heads, T, d_model // num_heads),
                                                  (B, num_heads, S, d_model // num_heads), mask, 133)
    if not own_attention:
        # A mistake inside scaled_dot_product_attention (forward or backward) is the sdpa tests' job: check only
        # w_o, whose gradient depends on the heads' values and not on the attention's backward pass.
        carried = with_student_attention(student, parameters, num_heads, query, key, value, mask)
        if carried is None or not is_close(output, carried[0]):
            return  # the forward pass differs; the output tests report it
        def attend(q, k, v, mask=None):
            return student.scaled_dot_product_attention(q, k, v, mask=mask)
        concat, _ = wiring(parameters, num_heads, query, key, value, mask, attend=attend, out_projection=False)
        flat_grad, flat_concat = grad_output.reshape(-1, d_model), concat.reshape(-1, d_model)
        expected = {"w_o.weight": flat_grad.T @ flat_concat, "w_o.bias": flat_grad.sum(dim=0)}
        names = ["w_o.weight", "w_o.bias"]
        inputs = []
    else:
        expected, expected_inputs = expected_mha_gradients(parameters, num_heads, query, key, value, mask,
                                                           grad_output)
        names = PARAMETER_NAMES
        inputs = list(zip(("query", "key", "value"), input_grads, expected_inputs))
    for name, actual, wanted in [(name, parameter_grads.get(name), expected[name]) for name in names] + inputs:
        if isinstance(actual, torch.Tensor) and actual.shape == wanted.shape and not bool(actual.any()) \
                and bool(wanted.any()):
            raise AssertionError(
                f"{what}: the gradient with respect to {name} is zero everywhere; something cuts it off the "
                "autograd graph (.detach(), .data, torch.no_grad(), new tensors built from the values), so "
                "training could not update it")
        assert_close(actual, wanted, what=f"the gradient with respect to {name} of {what}", atol=1e-4, rtol=1e-3)


def attention_changes_its_mask(student):
    """Does the student's own attention modify the mask it is given? (test_sdpa_leaves_inputs_unchanged's job)"""
    for kind in ("bool", "float"):
        q, k, v, mask, _, _ = gradient_case((2, 4), 6, 6, 4, 4, kind, 151)
        try:
            function = sandbox_partial(student, student.scaled_dot_product_attention, q, k, v, mask=mask)
            function()
            after = function.keywords.get("mask")
        except StudentCodeError:
            return True
        if not (isinstance(after, torch.Tensor) and after.shape == mask.shape and bool(torch.equal(after, mask))):
            return True
    return False


def test_mha_leaves_inputs_unchanged(student):
    """query, key, value and the mask the caller passed are not modified in place (values and shapes)."""
    d_model, num_heads = 16, 4
    names = ["query", "key", "value"] + ([] if attention_changes_its_mask(student) else ["mask"])
    mha = student.MultiHeadAttention(d_model, num_heads)  # its own weights: only the caller's tensors matter here
    for kind in ("causal", "padding"):
        query, key, value, mask = configuration_inputs(d_model, 2, 6, 6, kind, 142)
        key, value = key.clone(), value.clone()  # three tensors, as the caller's may be
        call = (f"MultiHeadAttention({d_model}, {num_heads})(query, key, value, mask=mask) with query, key and value "
                f"of shape {shape_text(query.shape)} and a bool mask of shape {shape_text(mask.shape)}")
        function = sandbox_partial(student, mha, query, key, value, mask=mask)
        for part, result in zip(PAIR, unpack(function(), PAIR, what=call)):
            assert_tensor(result, what=f"the {part} of {call}")  # a call that works, and leaves its inputs alone
        after = list(function.args) + [function.keywords.get("mask")]
        assert_same_inputs(after[:len(names)], [query, key, value, mask][:len(names)], call=call, names=names)
