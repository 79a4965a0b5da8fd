"""Public checks for 06_embeddings_tokenization: the names exist, return the right types and shapes.

Run them with `grade check 06_embeddings_tokenization.ipynb`. The grader's hidden tests also
check the values: tie-breaking, word counts and the end-of-word marker in BPE, the order of
the merges, WordPiece's longest match and unknown words, the SGNS loss and SGD step on
batches with repeated indices, and neighbours among vectors of very different lengths.
"""

import torch

from grader.checks.tensors import assert_tensor, describe, unpack


def test_public_merge_pair(student):
    """merge_pair(['l', 'o', 'w', '</w>'], ('o', 'w')) is ['l', 'ow', '</w>']."""
    got = student.merge_pair(["l", "o", "w", "</w>"], ("o", "w"))
    assert list(got) == ["l", "ow", "</w>"] if isinstance(got, (list, tuple)) else False, (
        f"merge_pair(['l', 'o', 'w', '</w>'], ('o', 'w')) returned {got!r}, expected ['l', 'ow', '</w>']"
    )


def test_public_train_bpe(student):
    """train_bpe returns at most num_merges pairs of strings; 'low low lower' merges ('l', 'o') first."""
    call = "train_bpe('low low lower', 3)"
    merges = student.train_bpe("low low lower", 3)
    assert isinstance(merges, (list, tuple)), f"{call} returned {describe(merges)}, expected a list of pairs"
    assert len(merges) == 3, f"{call} returned {len(merges)} merges, expected 3"
    for pair in merges:
        assert isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(s, str) for s in pair), (
            f"{call} returned {merges!r}: each merge must be a pair (a, b) of strings"
        )
    assert tuple(merges[0]) == ("l", "o"), f"{call}: the first merge is {tuple(merges[0])}, expected ('l', 'o')"


def test_public_bpe_encode(student):
    """bpe_encode returns a flat list of strings that spell the words, each followed by '</w>'."""
    text = "low lower newest"
    tokens = student.bpe_encode(text, [("l", "o"), ("lo", "w"), ("e", "s")])
    call = f"bpe_encode({text!r}, merges)"
    assert isinstance(tokens, (list, tuple)) and all(isinstance(t, str) for t in tokens), (
        f"{call} returned {tokens!r}, expected a flat list of strings"
    )
    assert "".join(tokens) == "low</w>lower</w>newest</w>", (
        f"{call} returned {list(tokens)}: joined they should spell each word followed by '</w>'"
    )


def test_public_wordpiece(student):
    """The example from the notebook: 'unaffable' is ['un', '##aff', '##able']."""
    vocab = ["un", "##aff", "##able", "the"]
    got = student.wordpiece_tokenize("the unaffable", vocab)
    assert isinstance(got, (list, tuple)) and list(got) == ["the", "un", "##aff", "##able"], (
        f"wordpiece_tokenize('the unaffable', {vocab}) returned {got!r}, expected ['the', 'un', '##aff', '##able']"
    )


def test_public_sgns_shapes(student):
    """sgns_loss returns a scalar tensor; sgns_step returns two matrices of the input shapes."""
    g = torch.Generator().manual_seed(3)
    W_in, W_out = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g)  # (V, d)
    center, context = torch.tensor([0, 1]), torch.tensor([2, 3])  # (B,)
    negatives = torch.tensor([[4, 5, 6], [6, 5, 4]])  # (B, K)
    loss = student.sgns_loss(center, context, negatives, W_in, W_out)
    assert_tensor(loss, what="sgns_loss(center, context, negatives, W_in, W_out) with B=2, K=3", shape=())
    call = "sgns_step(center, context, negatives, W_in, W_out, 0.1)"
    new_in, new_out = unpack(student.sgns_step(center, context, negatives, W_in, W_out, 0.1), ("W_in", "W_out"),
                             what=call)
    assert_tensor(new_in, what=f"the new W_in of {call}", shape=(7, 4))
    assert_tensor(new_out, what=f"the new W_out of {call}", shape=(7, 4))


def test_public_nearest_neighbours(student):
    """cosine_similarities gives one value per row; nearest_neighbours returns k other words."""
    words = ["a", "b", "c", "d"]
    embeddings = torch.randn(4, 3, generator=torch.Generator().manual_seed(4))
    sims = student.cosine_similarities(embeddings[0], embeddings)
    assert_tensor(sims, what="cosine_similarities(query (3,), embeddings (4, 3))", shape=(4,))
    got = student.nearest_neighbours("a", words, embeddings, 2)
    assert isinstance(got, (list, tuple)) and len(got) == 2 and all(w in words for w in got), (
        f"nearest_neighbours('a', {words}, embeddings, 2) returned {got!r}, expected a list of 2 of the words"
    )
    assert "a" not in got, "nearest_neighbours('a', ...) lists 'a' itself; a word is not its own neighbour"
