"""Public checks for 07_huggingface_intro: the names exist, return the right types and shapes.

Run them with `grade check 07_huggingface_intro.ipynb`. The grader's hidden tests also check
the values: your batches against the tokenizer's, padding and truncation, pooling with padding
that matters, your embeddings against reference embeddings, your ranking, and your pipeline.
"""

import torch

from grader.checks.tensors import assert_tensor, describe


def test_public_load_model(student):
    """load_model gave a BERT tokenizer and a BertModel in eval mode (the globals `tokenizer` and `model`)."""
    tokenizer, model = student.tokenizer, student.model
    assert tokenizer is not None and model is not None, (
        "`tokenizer` or `model` is None: implement load_model(model_path) and run the cell that calls it")
    assert "Tokenizer" in getattr(tokenizer, "type_name", ""), f"`tokenizer` is {describe(tokenizer)}, expected a tokenizer"
    assert getattr(model, "type_name", "") == "BertModel", (
        f"`model` is {describe(model)}, expected a BertModel: AutoModel.from_pretrained(MODEL_PATH)")
    assert model.training is False, "`model` is in training mode (dropout on): call model.eval()"


def test_public_tokenize_batch(student):
    """tokenize_batch(two texts, 16) returns input_ids and attention_mask tensors of shape (2, L), L <= 16."""
    batch = student.tokenize_batch(["a cat", "the dog barked loudly"], 16)
    if getattr(batch, "type_name", None) == "BatchEncoding":
        batch = batch.data
    assert isinstance(batch, dict) and "input_ids" in batch and "attention_mask" in batch, (
        f"tokenize_batch returned {describe(batch)}; return a dict with 'input_ids' and 'attention_mask'")
    ids = assert_tensor(batch["input_ids"], what="tokenize_batch(...)['input_ids']")
    mask = assert_tensor(batch["attention_mask"], what="tokenize_batch(...)['attention_mask']")
    assert ids.dim() == 2 and ids.shape[0] == 2 and ids.shape[1] <= 16 and ids.shape == mask.shape, (
        f"input_ids {tuple(ids.shape)} and attention_mask {tuple(mask.shape)}: expected (2, L) with L <= 16")


def test_public_mean_pool_shape(student):
    """mean_pool((2, 5, 4), (2, 5)) is (2, 4)."""
    hidden = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert_tensor(student.mean_pool(hidden, mask), what="mean_pool(hidden (2, 5, 4), mask (2, 5))", shape=(2, 4))


def test_public_embed_shape(student):
    """embed(two texts) is (2, 384)."""
    assert_tensor(student.embed(["a cat", "the dog barked loudly"]), what="embed(two texts)", shape=(2, 384))


def test_public_extractor(student):
    """build_extractor() returns a feature-extraction pipeline."""
    extractor = student.build_extractor()
    assert getattr(extractor, "type_name", "") == "FeatureExtractionPipeline", (
        f"build_extractor() returned {describe(extractor)}, expected a FeatureExtractionPipeline")
