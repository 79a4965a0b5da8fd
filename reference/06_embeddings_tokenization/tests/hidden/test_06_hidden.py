"""Hidden checks for 06_embeddings_tokenization, run in the trusted grader process.

Student code is reached only through the `student` fixture; expected values come from the
reference notebook (`reference`). The known mistakes are re-implemented here as knobs on
small reference implementations, so that a wrong answer can be named ("ties were broken by
order of appearance"). Across parts a mistake costs points once: a later part's test accepts
(`alternatives=`) the values of the student's own earlier mistake (training and encoding accept
the mistakes their own merge_pair makes, the step accepts the student's known loss mistake, the
neighbours their own cosines). Within a part, a mistake in its core computation (the merge rule,
the order of the merges, longest match and '##', the loss, the step, the cosine) fails several of
its tests, so that it costs at least half of the part; a slip fails one.
tests/fixtures/mutants/06_embeddings_tokenization/mutants.yaml lists which mistake fails which test.

Beyond the defaults (issue 19): repeated sub-words and pairs within a word, text split on any
whitespace, K = 1 negative, four training steps as the notebook trains (lr 1.0, W_out at zero),
the gradients of the loss (autograd's, computed in the sandbox: a detached loss has none), and the
caller's W_in and W_out after a step (seen through a functools.partial kept in the sandbox).

Tokenizers are compared exactly (lists of strings). Tensors are float32 from fixed seeds;
the loss, the SGD step and the cosines accumulate rounding errors around 1e-6 (matmul vs
einsum vs autograd), while every mistake tested for changes values by 1e-2 or more, so the
default tolerances of grader.checks.tensors (atol 1e-5, rtol 1e-4) separate them.
"""

from __future__ import annotations

import math
from collections import Counter

import torch
import torch.nn.functional as F

from grader.checks.selfcheck import self_check
from grader.checks.tensors import assert_close, assert_tensor, describe, is_close, unpack
from grader.kernel.bridge import StudentCodeError

EOW = "</w>"


# -- BPE, with the knobs students get wrong (the defaults are the notebook's algorithm) -----

def merge_symbols(symbols, pair, *, how="correct"):
    a, b = pair
    if how == "replace":  # " ".join + str.replace: matches across symbol boundaries
        return " ".join(symbols).replace(f"{a} {b}", a + b).split(" ")
    out, i, done = [], 0, False
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b and not done:
            out.append(a + b)
            i += 1 if how == "no_skip" else 2
            done = how == "first_only"
        else:
            out.append(symbols[i])
            i += 1
    return out


def split_word(word, marker="separate"):
    if marker == "none":
        return list(word)
    if marker == "glued":
        return list(word[:-1]) + [word[-1] + EOW]
    return list(word) + [EOW]


def bpe_train(corpus, num_merges, *, ties="smallest", marker="separate", weighted=True, merge="correct",
              per_word=False):
    """Returns (merges, the pair counts at each step)."""
    words = {tuple(split_word(w, marker)): n for w, n in Counter(corpus.split()).items()}
    merges, history = [], []
    for _ in range(num_merges):
        pairs = Counter()
        for symbols, count in words.items():
            for pair in (set if per_word else list)(zip(symbols, symbols[1:])):
                pairs[pair] += count if weighted else 1
        if not pairs:
            break
        if ties == "smallest":
            best = min(pairs, key=lambda p: (-pairs[p], p))
        elif ties == "largest":
            best = max(pairs, key=lambda p: (pairs[p], p))
        else:  # "first": max(counts, key=counts.get) keeps the first pair met
            best = max(pairs, key=pairs.get)
        merges.append(best)
        history.append(pairs)
        merged: dict[tuple, int] = {}
        for symbols, count in words.items():
            key = tuple(merge_symbols(list(symbols), best, how=merge))
            merged[key] = merged.get(key, 0) + count
        words = merged
    return merges, history


def bpe_encode(text, merges, *, order="learned", marker="separate", merge="correct", split="whitespace"):
    merges = list(reversed(merges)) if order == "reversed" else merges
    tokens = []
    for word in (text.split() if split == "whitespace" else text.split(" ")):
        symbols = split_word(word, marker)
        for pair in merges:
            symbols = merge_symbols(symbols, pair, how=merge)
        tokens.extend(symbols)
    return tokens


def as_merges(value, call):
    """The student's merges as a list of (str, str) tuples, or a failure that says what is wrong."""
    if not isinstance(value, (list, tuple)):
        raise AssertionError(f"{call} returned {describe(value)}; it must return a list of pairs (a, b) of strings")
    merges = []
    for i, item in enumerate(value):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(s, str) for s in item)):
            raise AssertionError(f"{call}: merge {i} is {item!r}; each merge must be a pair (a, b) of strings")
        merges.append((item[0], item[1]))
    return merges


def as_strings(value, call):
    if not isinstance(value, (list, tuple)):
        raise AssertionError(f"{call} returned {describe(value)}; it must return a list of strings")
    if value and all(isinstance(item, (list, tuple)) for item in value):
        raise AssertionError(f"{call} returned a list of {len(value)} lists (one per word?); "
                             "return one flat list of strings, the tokens of all words in order")
    bad = [item for item in value if not isinstance(item, str)]
    if bad:
        raise AssertionError(f"{call} returned a list holding {describe(bad[0])}; every token must be a string")
    return list(value)


def explain_merges(got, expected, history, diagnoses):
    """The first differing merge, with the counts the reference saw at that step."""
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            counts = history[i]
            text = (f"merge {i} (counting from 0) is {g}, expected {e}; at that step {e} occurs "
                    f"{counts.get(e, 0)} times and {g} occurs {counts.get(g, 0)} times")
            if counts.get(g, 0) == counts.get(e, 0):
                text += " (a tie: the lexicographically smallest pair wins)"
            break
    else:
        text = f"got {len(got)} merges, expected {len(expected)}"
    for sentence, wrong in diagnoses.items():
        if got == wrong:
            text += f"\nIt matches a known mistake: {sentence}"
            break
    return text + f"\nyour first merges: {got[:8]}\nexpected:          {expected[:8]}"


TRAIN_MISTAKES = {
    ("ties", "first"): "ties are broken by order of appearance (max(counts, key=counts.get)); among equally "
                       "frequent pairs the lexicographically smallest must win: min(pairs, key=lambda p: (-counts[p], p))",
    ("ties", "largest"): "ties go to the lexicographically largest pair; the smallest must win",
    ("marker", "none"): "the words have no end-of-word marker: write 'low' as ['l', 'o', 'w', '</w>']",
    ("marker", "glued"): "the end-of-word marker is glued to the last character ('w</w>'); it is a symbol of its own",
    ("weighted", False): "each distinct word counts once; a pair must count as often as the words it occurs in",
    ("per_word", True): "a pair that occurs several times in one word is counted once; count every adjacent pair "
                        "(zip(symbols, symbols[1:])), repeats included",
    ("merge", "first_only"): "only the first occurrence of the pair is merged in each word",
    ("merge", "no_skip"): "after merging a pair the next symbol is not skipped (the pair's second symbol is kept twice)",
    ("merge", "replace"): "the pair is merged by string replacement, which also matches across symbol boundaries "
                          "('ne w' contains 'e w'); compare symbols, not characters",
}
MERGE_MISTAKES = {"merge": ("first_only", "no_skip", "replace")}  # test_merge_pair's job


def own_merge_mistakes(student):
    """The known mistakes the student's own merge_pair makes on test_merge_pair's cases (penalised there).

    Training and encoding accept a merge mistake only when it comes from the student's merge_pair: the
    same mistake written again inside train_bpe or bpe_encode is theirs to pay for."""
    try:
        outputs = [student.merge_pair(list(symbols), pair) for symbols, pair in MERGE_PAIR_CASES]
    except Exception:  # noqa: BLE001 - a failing merge_pair is test_merge_pair's business
        return set()
    return {how for how in MERGE_MISTAKES["merge"]
            if all(isinstance(out, (list, tuple)) and list(out) == merge_symbols(list(symbols), pair, how=how)
                   for out, (symbols, pair) in zip(outputs, MERGE_PAIR_CASES))}


def with_own_merge_mistakes(student, penalised_elsewhere):
    """penalised_elsewhere without merge mistakes, plus those the student's own merge_pair makes."""
    own = own_merge_mistakes(student)
    return [(k, v) for k, v in penalised_elsewhere if k != "merge"] + [("merge", how) for how in sorted(own)]


def train_variants(corpus, num_merges, keys):
    return {TRAIN_MISTAKES[(knob, value)]: bpe_train(corpus, num_merges, **{knob: value})[0]
            for knob, value in keys}


def check_train(student, reference, corpus, num_merges, *, name, penalised_elsewhere):
    """Compare train_bpe on one corpus; mistakes listed in penalised_elsewhere pass here."""
    expected = reference.train_bpe(corpus, num_merges)
    merges, history = bpe_train(corpus, num_merges)
    self_check(merges == expected, "train_bpe")
    call = f"train_bpe({name}, {num_merges})"
    got = as_merges(student.train_bpe(corpus, num_merges), call)
    if got == expected:
        return
    accepted = train_variants(corpus, num_merges, with_own_merge_mistakes(student, penalised_elsewhere))
    if any(got == wrong for wrong in accepted.values()):
        return
    diagnoses = train_variants(corpus, num_merges, TRAIN_MISTAKES)
    raise AssertionError(f"{call}: " + explain_merges(got, expected, history, diagnoses))


MERGE_PAIR_CASES = [
    (["l", "o", "w", "</w>"], ("o", "w")),
    (["a", "a", "a"], ("a", "a")),  # non-overlapping, left to right
    (["a", "b", "c", "a", "b"], ("a", "b")),  # every occurrence
    (["ne", "w", "</w>"], ("e", "w")),  # symbols, not characters: no occurrence
    (["s", "t", "</w>"], ("t", "</w>")),  # the pair at the end
    (["x", "y"], ("y", "x")),  # no occurrence
]


def test_merge_pair(student, reference):
    """Every non-overlapping occurrence, left to right, comparing symbols (not characters)."""
    for symbols, pair in MERGE_PAIR_CASES:
        expected = reference.merge_pair(list(symbols), pair)
        call = f"merge_pair({symbols}, {pair})"
        got = as_strings(student.merge_pair(list(symbols), pair), call)
        if got != expected:
            hint = ""
            for how, sentence in (("first_only", TRAIN_MISTAKES[("merge", "first_only")]),
                                  ("no_skip", TRAIN_MISTAKES[("merge", "no_skip")]),
                                  ("replace", TRAIN_MISTAKES[("merge", "replace")])):
                if got == merge_symbols(list(symbols), pair, how=how):
                    hint = f"\nIt matches a known mistake: {sentence}"
                    break
            raise AssertionError(f"{call} returned {got}, expected {expected}{hint}")


TIES = "ab ba ab ba cd dc"  # every pair occurs twice: only the tie rule decides
COUNTS = "xyz xyz xyz ab ac ad ae"  # ('a', 'b'), ... appear in more words, ('x', 'y') has the largest count
GLUE = "ew ne ne new"  # after ("n", "e"), "ne w</w>" holds no ("e", "w</w>"): string replacement finds one


def test_bpe_tie_breaking(student, reference):
    """A corpus where every pair is equally frequent: the lexicographically smallest pair wins."""
    check_train(student, reference, TIES, 4, name=repr(TIES),
                penalised_elsewhere=[("marker", "none"), ("marker", "glued"), *[("merge", m) for m in MERGE_MISTAKES["merge"]]])


def test_bpe_counts_word_frequencies(student, reference):
    """A pair counts once per occurrence of each word: 'xyz' three times beats four words seen once."""
    check_train(student, reference, COUNTS, 3, name=repr(COUNTS),
                penalised_elsewhere=[("ties", "first"), ("ties", "largest"), ("marker", "none"), ("marker", "glued"),
                                     *[("merge", m) for m in MERGE_MISTAKES["merge"]]])


def test_bpe_end_of_word_marker(student, reference):
    """'</w>' is a symbol of its own, so word endings are learned as merges with it."""
    corpus = "hugs bugs hug bug mugs"
    check_train(student, reference, corpus, 6, name=repr(corpus),
                penalised_elsewhere=[*[("merge", m) for m in MERGE_MISTAKES["merge"]]])
    got = as_merges(student.train_bpe(corpus, 6), f"train_bpe({corpus!r}, 6)")
    assert any(EOW in pair for pair in got), (
        f"train_bpe({corpus!r}, 6) learned {got}: no merge involves the end-of-word marker '</w>'; "
        "write each word as its characters followed by '</w>'"
    )


def test_bpe_train_on_corpus(student, reference):
    """40 merges learned from the notebook's CORPUS equal the reference's, in order.

    The merge rule (ties, word counts, the marker) is this part's core: its mistakes fail here too. Only
    the mistakes of the student's own merge_pair, penalised by test_merge_pair, pass here."""
    check_train(student, reference, reference.CORPUS, 40, name="CORPUS",
                penalised_elsewhere=[*[("merge", m) for m in MERGE_MISTAKES["merge"]]])


REPEATS = "lalala la lo lo"  # ('l', 'a') occurs three times in 'lalala': it must count three times


def test_bpe_repeated_pairs_in_a_word(student, reference):
    """A pair that occurs several times in one word counts each time ('lalala' has ('l', 'a') three times).

    The merge rule (ties, word counts, the marker) is this part's core: its mistakes fail here too."""
    check_train(student, reference, REPEATS, 5, name=repr(REPEATS),
                penalised_elsewhere=[*[("merge", m) for m in MERGE_MISTAKES["merge"]]])


def test_bpe_train_merges_whole_symbols(student, reference):
    """After each merge the words are rewritten symbol by symbol, as merge_pair does: 'ne w' holds no ('e', 'w').

    The same string-replacement mistake in the student's own merge_pair is test_merge_pair's and passes here;
    the merge rule's mistakes (ties, word counts, the marker) fail here too."""
    self_check(bpe_train(GLUE, 5, merge="replace")[0] != bpe_train(GLUE, 5)[0], "glue")
    check_train(student, reference, GLUE, 5, name=repr(GLUE),
                penalised_elsewhere=[*[("merge", m) for m in MERGE_MISTAKES["merge"]]])


def test_bpe_stops_when_nothing_is_left(student, reference):
    """Asked for more merges than there are pairs, train_bpe returns the merges it could learn."""
    corpus = "aa ab aa"
    expected = reference.train_bpe(corpus, 50)
    call = f"train_bpe({corpus!r}, 50)"
    got = as_merges(student.train_bpe(corpus, 50), call)
    # a different marker, tie or count rule gives a different number: those have their own tests
    accepted = {len(expected)} | {len(bpe_train(corpus, 50, **{knob: value})[0])
                                  for knob, value in TRAIN_MISTAKES if value != "no_skip"}
    assert len(got) in accepted, (
        f"{call} returned {len(got)} merges, expected {len(expected)}: once every word is a single symbol "
        "there is no pair left, so stop and return the merges learned so far"
    )
    assert len(set(got)) == len(got), f"{call} returned a merge twice: {got}"


ENCODE_MISTAKES = {
    ("order", "reversed"): "the merges are applied in reverse order; replay them in the order they were learned",
    ("marker", "none"): "the words are encoded without the end-of-word marker '</w>'",
    ("marker", "glued"): "the end-of-word marker is glued to the last character; it is a symbol of its own",
    ("merge", "first_only"): TRAIN_MISTAKES[("merge", "first_only")],
    ("merge", "no_skip"): TRAIN_MISTAKES[("merge", "no_skip")],
    ("merge", "replace"): TRAIN_MISTAKES[("merge", "replace")],
    ("split", "space"): "the text is split on single spaces (split(' ')); split it on any whitespace with text.split()",
}


def check_encode(student, reference, text, merges, *, name, penalised_elsewhere):
    expected = reference.bpe_encode(text, merges)
    self_check(expected == bpe_encode(text, merges), "bpe_encode")
    call = f"bpe_encode({text!r}, {name})"
    got = as_strings(student.bpe_encode(text, merges), call)
    if got == expected:
        return
    if any(got == bpe_encode(text, merges, **{k: v}) for k, v in with_own_merge_mistakes(student, penalised_elsewhere)):
        return
    hint = next((f"\nIt matches a known mistake: {sentence}" for (k, v), sentence in ENCODE_MISTAKES.items()
                 if got == bpe_encode(text, merges, **{k: v})), "")
    raise AssertionError(f"{call} returned {got}, expected {expected}{hint}")


def test_bpe_encode_merge_order(student, reference):
    """The merges are replayed in the order learned: with ('b', 'c') first, 'abc' is a + bc, not ab + c."""
    merges = [("b", "c"), ("a", "b"), ("a", "bc"), ("c", EOW), ("a", "a")]
    check_encode(student, reference, "abc ab bcabc aaa", merges, name=f"merges={merges}",
                 penalised_elsewhere=[("marker", "none"), ("marker", "glued"),
                                      *[("merge", m) for m in MERGE_MISTAKES["merge"]]])


def test_bpe_encode_with_learned_merges(student, reference):
    """A sentence with seen and unseen words, encoded with the reference's merges from CORPUS.

    Replaying the merges in the learned order is this part's core: reversed merges fail here too."""
    merges = reference.train_bpe(reference.CORPUS, 40)
    text = "the lowest wall is slower than the newest dogs xyz"
    check_encode(student, reference, text, merges, name="the reference's 40 merges from CORPUS",
                 penalised_elsewhere=[*[("merge", m) for m in MERGE_MISTAKES["merge"]]])


def test_bpe_encode_repeated_subwords(student, reference):
    """Every occurrence of a pair in a word is merged, in long words that repeat a sub-word."""
    merges = [("l", "o"), ("lo", "w"), ("a", "a"), ("e", "w"), ("n", "ew"), ("low", "low"), ("ew", EOW)]
    text = "lowlowlow aaaaa newnewnew lowlow"
    check_encode(student, reference, text, merges, name=f"merges={merges}",
                 penalised_elsewhere=[*[("merge", m) for m in MERGE_MISTAKES["merge"]]])


def test_bpe_encode_splits_on_any_whitespace(student, reference):
    """Words separated by several spaces, a tab or a newline: the text is split on whitespace (str.split())."""
    merges = reference.train_bpe(reference.CORPUS, 40)
    text = "the  lowest\twall\nis   slower \n than the newest"
    check_encode(student, reference, text, merges, name="the reference's 40 merges from CORPUS",
                 penalised_elsewhere=[("order", "reversed"), ("marker", "none"), ("marker", "glued"),
                                      *[("merge", m) for m in MERGE_MISTAKES["merge"]]])


# -- WordPiece ----------------------------------------------------------------------------

def wordpiece(text, vocab, unk="[UNK]", *, prefix="continuation", longest=True, unk_whole_word=True):
    tokens = []
    for word in text.split():
        pieces, start = [], 0
        while start < len(word):
            ends = range(len(word), start, -1) if longest else range(start + 1, len(word) + 1)
            piece = None
            for end in ends:
                candidate = word[start:end]
                if prefix == "always" or (prefix == "continuation" and start > 0):
                    candidate = "##" + candidate
                if candidate in vocab:
                    piece = candidate
                    break
            if piece is None:
                if unk_whole_word:
                    pieces = [unk]
                    break
                pieces.append(unk)
                start += 1
                continue
            pieces.append(piece)
            start = end
        tokens.extend(pieces)
    return tokens


WORDPIECE_MISTAKES = {
    "no_prefix": ("pieces after the first are looked up without the '##' prefix", dict(prefix="never")),
    "always": ("the first piece of a word is looked up with '##' too; only continuation pieces get it",
               dict(prefix="always")),
    "shortest": ("the shortest matching piece is taken first; WordPiece takes the longest", dict(longest=False)),
    "unk_piece": ("only the piece that fails becomes the unknown token; the whole word must", dict(unk_whole_word=False)),
}


def check_wordpiece(student, reference, text, vocab, unk_token=None, *, penalised_elsewhere=()):
    args = (text, vocab) if unk_token is None else (text, vocab, unk_token)
    expected = reference.wordpiece_tokenize(*args)
    self_check(expected == wordpiece(*args), "wordpiece")
    call = f"wordpiece_tokenize({text!r}, vocab{'' if unk_token is None else f', unk_token={unk_token!r}'})"
    got = as_strings(student.wordpiece_tokenize(*args), call)
    if got == expected:
        return
    if any(got == wordpiece(*args, **WORDPIECE_MISTAKES[key][1]) for key in penalised_elsewhere):
        return
    hint = next((f"\nIt matches a known mistake: {sentence}" for sentence, knobs in WORDPIECE_MISTAKES.values()
                 if got == wordpiece(*args, **knobs)), "")
    if unk_token is not None and "[UNK]" in got:
        hint += f"\nYour result holds '[UNK]': use the unk_token argument ({unk_token!r} here)"
    raise AssertionError(f"{call} with vocab {sorted(vocab)} returned {got}, expected {expected}{hint}")


def test_wordpiece_continuation_prefix(student, reference):
    """Pieces after the first carry '##'; the first does not ('est' and '##est' are different entries)."""
    vocab = ["low", "##low", "est", "##est", "##er", "er", "new", "##new", "s", "##s"]
    check_wordpiece(student, reference, "lowest newer lowers", vocab, penalised_elsewhere=("shortest",))


def test_wordpiece_longest_match_first(student, reference):
    """At each position the longest piece in the vocabulary wins."""
    vocab = ["un", "una", "u", "a", "ff", "able", "##n", "##a", "##b", "##l", "##e", "##f", "##ff", "##aff",
             "##able", "##ble", "##fable"]
    check_wordpiece(student, reference, "unaffable unable", vocab, penalised_elsewhere=("no_prefix", "always"))


def test_wordpiece_unknown_word(student, reference):
    """A word that cannot be cut completely becomes one unk_token; the other words are unaffected."""
    vocab = ["the", "wall", "##s", "low", "##er", "q"]
    check_wordpiece(student, reference, "the lowqer walls", vocab, penalised_elsewhere=("no_prefix", "always", "shortest"))
    check_wordpiece(student, reference, "walls zzz the", vocab, "<unk>",
                    penalised_elsewhere=("no_prefix", "always", "shortest"))


def test_wordpiece_repeated_pieces(student, reference):
    """Words that repeat a piece ('lalala'): only the word's first piece goes without '##', every later one has it."""
    vocab = ["la", "##la", "##l", "##a", "l", "a", "lo", "##lo", "##o"]
    check_wordpiece(student, reference, "lalala lalolalo ala", vocab, penalised_elsewhere=("unk_piece",))


# -- skip-gram with negative sampling ----------------------------------------------------------

def sgns(center, context, negatives, W_in, W_out, *, sign_error=False, no_sigmoid=False, reduce="mean",
         negatives_mean=False, swapped=False, no_negatives=False):
    """The loss of the notebook, eq. 4 of Mikolov et al. 2013, with the knobs students get wrong."""
    if swapped:
        W_in, W_out = W_out, W_in
    v = W_in[center]  # (B, d)
    pos = (W_out[context] * v).sum(-1)  # (B,)
    neg = torch.einsum("bkd,bd->bk", W_out[negatives], v)  # (B, K)
    if no_sigmoid:
        per_neg = neg if not sign_error else -neg
        loss_pos = -pos
    else:
        per_neg = -F.logsigmoid(neg if sign_error else -neg)
        loss_pos = -F.logsigmoid(pos)
    loss_neg = per_neg.mean(-1) if negatives_mean else per_neg.sum(-1)
    loss = loss_pos + (0 if no_negatives else loss_neg)  # (B,)
    return loss.mean() if reduce == "mean" else loss.sum()


LOSS_MISTAKES = {
    "sign_error": "the negative term has the wrong sign: it is -log σ(-u_k·v_c), with the minus inside the sigmoid",
    "no_sigmoid": "the raw scores enter the loss without the log-sigmoid; it is -log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c)",
    "sum": "the loss is summed over the batch; return the mean",
    "negatives_mean": "the negatives' terms are averaged; the loss sums them over k",
    "swapped": "W_in and W_out are swapped: the center word's vector comes from W_in, the context words' from W_out",
    "no_negatives": "the negative samples do not enter the loss",
}
LOSS_KNOBS = {"sign_error": dict(sign_error=True), "no_sigmoid": dict(no_sigmoid=True), "sum": dict(reduce="sum"),
              "negatives_mean": dict(negatives_mean=True), "swapped": dict(swapped=True),
              "no_negatives": dict(no_negatives=True)}


def sgns_batch(V, d, B, K, seed, *, scale=0.5, distinct=False):
    g = torch.Generator().manual_seed(seed)
    W_in, W_out = scale * torch.randn(V, d, generator=g), scale * torch.randn(V, d, generator=g)
    if distinct:  # no index repeats within W_in's rows or within W_out's rows
        center = torch.randperm(V, generator=g)[:B]
        out_rows = torch.randperm(V, generator=g)[:B * (K + 1)]
        context, negatives = out_rows[:B], out_rows[B:].view(B, K)
    else:
        center = torch.randint(V, (B,), generator=g)
        context = torch.randint(V, (B,), generator=g)
        negatives = torch.randint(V, (B, K), generator=g)
    return center, context, negatives, W_in, W_out


def student_loss_knobs(student, batch):
    """The knobs of the loss mistake the student's sgns_loss makes, if it is a known one, else None."""
    try:
        value = student.sgns_loss(*batch)
    except Exception:  # noqa: BLE001 - a failing loss is test_sgns_loss's business
        return None
    for key, knobs in LOSS_KNOBS.items():
        if is_close(value, sgns(*batch, **knobs)):
            return knobs
    return None


def assert_scalar(got, expected, *, what, diagnoses=None, alternatives=()):
    """A scalar compared within the tolerances, with a one-line message (the loss)."""
    got = assert_tensor(got, what=what)
    assert got.numel() == 1, f"{what}: got shape {tuple(got.shape)}, expected a scalar (the mean over the batch)"
    if any(is_close(got.reshape(()), other) for other in alternatives) or is_close(got.reshape(()), expected):
        return
    hint = next((f"\nIt matches a known mistake: {sentence}" for sentence, wrong in (diagnoses or {}).items()
                 if is_close(got.reshape(()), wrong)), "")
    raise AssertionError(f"{what} returned {got.item():.6g}, expected {expected.item():.6g}{hint}")


def test_sgns_loss(student, reference):
    """The mean SGNS loss of a batch (B=4, K=3) against the reference."""
    batch = sgns_batch(V=9, d=5, B=4, K=3, seed=31)
    expected = reference.sgns_loss(*batch)
    self_check(is_close(expected, sgns(*batch)), "sgns_loss")
    call = "sgns_loss(center, context, negatives, W_in, W_out) with B=4, K=3, V=9, d=5"
    assert_scalar(student.sgns_loss(*batch), expected, what=call,
                  diagnoses={LOSS_MISTAKES[k]: sgns(*batch, **knobs) for k, knobs in LOSS_KNOBS.items()})


def test_sgns_loss_large_scores(student, reference):
    """Scores of several hundred: the loss stays finite and exact (log-sigmoid, not log(sigmoid))."""
    batch = sgns_batch(V=8, d=6, B=3, K=2, seed=41, scale=12.0)
    expected = reference.sgns_loss(*batch)
    call = "sgns_loss(...) with scores u·v of several hundred"
    got = assert_tensor(student.sgns_loss(*batch), what=call)
    assert got.numel() == 1, f"{call}: expected a scalar, got shape {tuple(got.shape)}"
    assert bool(torch.isfinite(got).all()), (
        f"{call} returned {got.item()}: log(sigmoid(x)) underflows to log(0) = -inf for x below about -104 "
        "in float32; use F.logsigmoid(x)"
    )
    accepted = [sgns(*batch, **knobs) for knobs in LOSS_KNOBS.values()]  # test_sgns_loss's job
    assert_scalar(got, expected, what=call, alternatives=accepted)
    self_check(expected.item() > 100, "large scores")


def sandbox_tools(student):
    """functools.partial and torch.autograd.functional.jacobian inside the student's kernel, reached through
    their torch module: the calls they make keep the tensors in the sandbox, so that the grader can see the
    gradients of the student's loss and the state of the caller's tensors after a call."""
    try:
        return student.torch.functools.partial, student.torch.autograd.functional.jacobian
    except StudentCodeError as error:
        raise AssertionError(f"the grader could not reach `torch` in your notebook ({error}); keep the notebook's "
                             "`import torch` and do not rebind the name `torch`") from None


def student_loss_gradients(student, batch, what):
    """Autograd's gradients of the student's sgns_loss with respect to W_in and W_out, computed in the sandbox."""
    center, context, negatives, W_in, W_out = batch
    partial, jacobian = sandbox_tools(student)
    grads = unpack(jacobian(partial(student.sgns_loss, center, context, negatives), (W_in, W_out)),
                   ("dL/dW_in", "dL/dW_out"), what=what)
    out = []
    for grad, matrix, name in zip(grads, (W_in, W_out), ("W_in", "W_out")):
        grad = assert_tensor(grad, what=f"the gradient of your loss with respect to {name}")
        assert grad.numel() == matrix.numel(), (
            f"{what}: the gradient with respect to {name} has shape {tuple(grad.shape)}: is the loss a scalar?")
        out.append(grad.reshape(matrix.shape))
    return out


def test_sgns_loss_gradients(student, reference):
    """The loss is differentiable: autograd's gradients of it equal the reference's (as the notebook's autograd
    check uses them); a loss cut off from the graph (.detach(), .item(), torch.no_grad()) has none."""
    batch = sgns_batch(V=7, d=4, B=5, K=3, seed=35)
    center, context, negatives, W_in, W_out = batch
    what = "the gradients of sgns_loss(center, context, negatives, W_in, W_out) with B=5, K=3"
    got = student_loss_gradients(student, batch, what)  # first: an unfilled notebook fails before any other work
    W_in_r, W_out_r = W_in.clone().requires_grad_(), W_out.clone().requires_grad_()
    reference.sgns_loss(center, context, negatives, W_in_r, W_out_r).backward()
    expected = (W_in_r.grad, W_out_r.grad)
    self_check(all(is_close(e, g) for e, g in zip(expected, sgns_grads(batch))), "sgns_loss gradients")
    for index, name in enumerate(("W_in", "W_out")):
        if not bool(got[index].any()) and bool(expected[index].any()):
            raise AssertionError(
                f"{what}: the gradient with respect to {name} is zero: your loss is cut off from the autograd graph "
                "(.detach(), .item(), torch.tensor(...) of a value, or torch.no_grad()); compute it with tensor "
                "operations on W_in and W_out so that loss.backward() reaches them")
        assert_close(got[index], expected[index], what=f"{what}, with respect to {name}",
                     diagnoses={LOSS_MISTAKES[k]: sgns_grads(batch, **knobs)[index] for k, knobs in LOSS_KNOBS.items()})


def test_sgns_loss_one_negative(student, reference):
    """K = 1 negative per example (B = 5): the loss keeps the batch and the negatives apart."""
    batch = sgns_batch(V=9, d=5, B=5, K=1, seed=36)
    center, context, negatives, W_in, W_out = batch
    expected = reference.sgns_loss(*batch)
    self_check(is_close(expected, sgns(*batch)), "sgns_loss K=1")
    v = W_in[center]
    pos, neg = (W_out[context] * v).sum(-1), (W_out[negatives] @ v.unsqueeze(-1)).squeeze()
    diagnoses = {LOSS_MISTAKES[k]: sgns(*batch, **knobs) for k, knobs in LOSS_KNOBS.items()}
    diagnoses["with K = 1, .squeeze() without a dim also removes the K axis, so the negatives' terms are summed "
              "over the batch: squeeze(-1)"] = (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()
    call = "sgns_loss(center, context, negatives, W_in, W_out) with B=5, K=1 (negatives of shape (5, 1))"
    assert_scalar(student.sgns_loss(*batch), expected, what=call, diagnoses=diagnoses)


def sgns_grads(batch, **knobs):
    """Autograd gradients of the (possibly mistaken) loss with respect to W_in and W_out."""
    center, context, negatives, W_in, W_out = batch
    W_in, W_out = W_in.clone().requires_grad_(), W_out.clone().requires_grad_()
    sgns(center, context, negatives, W_in, W_out, **knobs).backward()
    return W_in.grad, W_out.grad


def step(batch, lr, *, loss=None, ascent=False, only=None, sequential=False, overwrite=False):
    """One SGD step, with the knobs students get wrong."""
    center, context, negatives, W_in, W_out = batch
    loss = loss or {}
    sign = 1.0 if ascent else -1.0
    if overwrite:  # W[idx] -= g: repeated indices keep one gradient instead of their sum
        B, K = negatives.shape
        grads = per_example_grads(batch, **loss)
        new_in, new_out = W_in.clone(), W_out.clone()
        new_in[center] = new_in[center] + sign * lr * grads[0]
        new_out[context] = new_out[context] + sign * lr * grads[1]
        new_out[negatives.reshape(-1)] = new_out[negatives.reshape(-1)] + sign * lr * grads[2].reshape(B * K, -1)
        return new_in, new_out
    grad_in, _ = sgns_grads(batch, **loss)
    new_in = W_in + sign * lr * grad_in
    if sequential:  # W_out's gradient from the already updated W_in
        _, grad_out = sgns_grads((center, context, negatives, new_in, W_out), **loss)
    else:
        _, grad_out = sgns_grads(batch, **loss)
    new_out = W_out + sign * lr * grad_out
    if only == "in":
        new_out = W_out.clone()
    if only == "out":
        new_in = W_in.clone()
    return new_in, new_out


def per_example_grads(batch, **loss):
    """Gradients of the mean loss with respect to each gathered row: v_c (B, d), u_o (B, d), u_k (B, K, d)."""
    center, context, negatives, W_in, W_out = batch
    v = W_in[center].clone().requires_grad_()
    u_pos = W_out[context].clone().requires_grad_()
    u_neg = W_out[negatives].clone().requires_grad_()
    pos = (u_pos * v).sum(-1)
    neg = torch.einsum("bkd,bd->bk", u_neg, v)
    sign = -1.0 if loss.get("sign_error") else 1.0
    losses = -F.logsigmoid(pos) - F.logsigmoid(-sign * neg).sum(-1)
    (losses.mean() if loss.get("reduce", "mean") == "mean" else losses.sum()).backward()
    return v.grad, u_pos.grad, u_neg.grad


STEP_MISTAKES = {
    "ascent": ("the step goes up the gradient: subtract lr * gradient", dict(ascent=True)),
    "only_in": ("only W_in is updated; W_out gets a gradient too (the context and negative rows)", dict(only="in")),
    "only_out": ("only W_out is updated; W_in gets a gradient too (the center rows)", dict(only="out")),
    "sequential": ("W_out's gradient is computed with the already updated W_in; use the old values of both",
                   dict(sequential=True)),
    "sum": ("the gradient is that of the summed loss; divide each example's gradient by the batch size B",
            dict(loss=dict(reduce="sum"))),
    "sign_error": ("the gradient of the negative term has the wrong sign: ∂ℓ/∂u_k = σ(u_k·v_c) v_c",
                   dict(loss=dict(sign_error=True))),
    "overwrite": ("repeated indices keep only one of their gradients (W[idx] -= g); sum them with index_add_",
                  dict(overwrite=True)),
}
LR = 0.5


def call_step(student, batch, what):
    result = student.sgns_step(*batch, LR)
    new_in, new_out = unpack(result, ("W_in", "W_out"), what=what)
    return assert_tensor(new_in, what=f"{what}[0]", shape=batch[3].shape), \
        assert_tensor(new_out, what=f"{what}[1]", shape=batch[4].shape)


def consistent_with_own_loss(student, batch, index):
    """The step that follows from the student's own (known) loss mistake: test_sgns_loss penalises that."""
    knobs = student_loss_knobs(student, batch)
    return [step(batch, LR, loss=knobs)[index]] if knobs else []


def check_step_matrix(student, reference, batch, index, *, what, penalised_elsewhere):
    expected = reference.sgns_step(*batch, LR)[index]
    self_check(is_close(expected, step(batch, LR)[index]), "sgns_step")
    got = call_step(student, batch, what)[index]
    name = ("W_in", "W_out")[index]
    original = batch[3 + index]
    if is_close(got, original, atol=0, rtol=0) and not is_close(expected, original):
        raise AssertionError(f"{what}: the returned {name} equals the input {name}: it was not updated. Both "
                             "matrices get a gradient; return the updated copies (in-place changes in your "
                             "notebook do not reach the grader)")
    accepted = consistent_with_own_loss(student, batch, index)
    accepted += [step(batch, LR, **STEP_MISTAKES[key][1])[index] for key in penalised_elsewhere]
    assert_close(got, expected, what=f"the new {name} of {what}", alternatives=accepted,
                 diagnoses={sentence: step(batch, LR, **knobs)[index] for sentence, knobs in STEP_MISTAKES.values()})


def test_sgns_step_w_in(student, reference):
    """The updated W_in after one step (no repeated indices), lr = 0.5."""
    batch = sgns_batch(V=16, d=4, B=3, K=3, seed=51, distinct=True)
    check_step_matrix(student, reference, batch, 0, what="sgns_step(center, context, negatives, W_in, W_out, 0.5)",
                      penalised_elsewhere=("only_in",))


def test_sgns_step_w_out(student, reference):
    """The updated W_out after one step (no repeated indices), lr = 0.5."""
    batch = sgns_batch(V=16, d=4, B=3, K=3, seed=52, distinct=True)
    check_step_matrix(student, reference, batch, 1, what="sgns_step(center, context, negatives, W_in, W_out, 0.5)",
                      penalised_elsewhere=("only_out",))


def test_sgns_step_repeated_indices(student, reference):
    """Repeated centers, and rows that are a context and a negative in the same batch, sum their gradients."""
    batch = sgns_batch(V=5, d=4, B=6, K=3, seed=53)
    center, context, negatives = batch[:3]
    self_check(len(set(center.tolist())) < len(center) and bool(set(context.tolist()) & set(negatives.flatten().tolist())),
               "repeats")
    what = "sgns_step(...) with repeated indices"
    expected = reference.sgns_step(*batch, LR)
    got = call_step(student, batch, what)
    others = ["sequential"]  # a slip test_sgns_step_w_out penalises; the step's core mistakes fail here too
    for index, name in enumerate(("W_in", "W_out")):
        accepted = consistent_with_own_loss(student, batch, index)
        accepted += [step(batch, LR, **STEP_MISTAKES[key][1])[index] for key in others]
        assert_close(got[index], expected[index], what=f"the new {name} of {what}", alternatives=accepted,
                     diagnoses={STEP_MISTAKES["overwrite"][0]: step(batch, LR, overwrite=True)[index]})


def test_sgns_step_one_negative(student, reference):
    """K = 1 negative per example: both matrices of the step, lr = 0.5."""
    batch = sgns_batch(V=12, d=4, B=4, K=1, seed=54, distinct=True)
    what = "sgns_step(...) with K=1 (negatives of shape (4, 1)), lr=0.5"
    expected = reference.sgns_step(*batch, LR)
    got = call_step(student, batch, what)
    for index, name in enumerate(("W_in", "W_out")):
        assert_close(got[index], expected[index], what=f"the new {name} of {what}",
                     alternatives=consistent_with_own_loss(student, batch, index),
                     diagnoses={sentence: step(batch, LR, **knobs)[index] for sentence, knobs in STEP_MISTAKES.values()})


def test_sgns_step_leaves_inputs_unchanged(student, reference):
    """The caller's W_in and W_out are unchanged after a step: it returns new tensors or updated copies."""
    batch = sgns_batch(V=6, d=4, B=5, K=2, seed=55)
    partial, _ = sandbox_tools(student)
    call = partial(student.sgns_step, *batch)  # holds the very tensors the step receives, in the sandbox
    call(LR)
    after = unpack(call.args, ("center", "context", "negatives", "W_in", "W_out"), what="the step's arguments")
    for index, name in ((3, "W_in"), (4, "W_out")):
        assert isinstance(after[index], torch.Tensor) and torch.equal(after[index], batch[index]), (
            f"sgns_step(center, context, negatives, W_in, W_out, 0.5) changed the caller's {name} in place "
            f"(e.g. {name} -= lr * grad or {name}.index_add_(...)); return new tensors or updated copies "
            f"({name} - lr * grad, or {name}.clone() before changing it): the caller may still use the old matrices, "
            "as the notebook's autograd check does")


def test_sgns_step_several_steps(student, reference):
    """Four steps as the notebook trains (W_out starts at zero, lr = 1.0, repeated indices), each from the
    matrices the previous step returned."""
    g = torch.Generator().manual_seed(56)
    V, d, B, K, lr = 10, 6, 8, 3, 1.0
    W_in, W_out = torch.rand(V, d, generator=g) - 0.5, torch.zeros(V, d)
    batches = [(torch.randint(V, (B,), generator=g), torch.randint(V, (B,), generator=g),
                torch.randint(V, (B, K), generator=g)) for _ in range(4)]

    def chain(one_step):
        a, b = W_in, W_out
        for center, context, negatives in batches:
            a, b = one_step((center, context, negatives, a, b))
        return a, b

    what = "four sgns_step calls, lr=1.0, W_out starting at zero"
    current = (W_in, W_out)
    for number, (center, context, negatives) in enumerate(batches, 1):
        current = unpack(student.sgns_step(center, context, negatives, *current, lr), ("W_in", "W_out"),
                         what=f"step {number} of {what}")
        current = tuple(assert_tensor(m, what=f"step {number} of {what}", shape=(V, d)) for m in current)
    expected = chain(lambda batch: reference.sgns_step(*batch, lr))
    self_check(all(is_close(e, r) for e, r in zip(expected, chain(lambda batch: step(batch, lr)))), "several steps")
    knobs = student_loss_knobs(student, (*batches[0], W_in + 0.5, W_out + 0.5))  # a known loss mistake is the loss's
    accepted = [chain(lambda batch, k=k: step(batch, lr, **k)) for k in
                ([dict(loss=knobs)] if knobs else []) + [dict(sequential=True), dict(overwrite=True)]]
    diagnoses = {sentence: chain(lambda batch, k=k: step(batch, lr, **k)) for sentence, k in STEP_MISTAKES.values()}
    for index, name in enumerate(("W_in", "W_out")):
        assert_close(current[index], expected[index], what=f"{name} after {what}",
                     alternatives=[a[index] for a in accepted],
                     diagnoses={sentence: value[index] for sentence, value in diagnoses.items()})


# -- cosine nearest neighbours --------------------------------------------------------------

def spread_embeddings(V, d, seed):
    """Rows of very different lengths, so that a dot product ranks differently from the cosine."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([0.2, 6.0, 1.0, 15.0, 0.5, 3.0, 9.0, 0.05][:V])
    return torch.randn(V, d, generator=g) * lengths[:, None]


def cosine_variants(query, embeddings):
    dots = embeddings @ query
    return {
        "these are dot products: divide by the lengths of both vectors, |q| |e_i|": dots,
        "only divided by the rows' lengths |e_i|; divide by |q| too": dots / embeddings.norm(dim=-1),
        "only divided by the query's length |q|; divide by |e_i| too": dots / query.norm(),
        "divided by squared lengths; use the norms |q| |e_i|, not their squares":
            dots / (embeddings.pow(2).sum(-1) * query.pow(2).sum()),
    }


def test_cosine_similarities(student, reference):
    """cos(q, e_i) for 8 rows of very different lengths, the query one of them and one not."""
    embeddings = spread_embeddings(8, 5, 61)
    outside = torch.randn(5, generator=torch.Generator().manual_seed(62)) * 4.0
    for query, name in ((embeddings[3], "row 3"), (outside, "a vector outside the matrix")):
        expected = reference.cosine_similarities(query, embeddings)
        self_check(is_close(expected, F.cosine_similarity(query[None], embeddings)), "cosine")
        call = f"cosine_similarities(query, embeddings) with the query {name}, embeddings (8, 5)"
        got = student.cosine_similarities(query, embeddings)
        assert_close(got, expected, what=call,
                     diagnoses=cosine_variants(query, embeddings))


def ranking(scores, index, k, *, exclude=True, descending=True):
    scores = scores.clone().to(torch.float64)
    if exclude:
        scores[index] = -math.inf if descending else math.inf
    return torch.argsort(scores, descending=descending)[:k].tolist()


def test_nearest_neighbours(student, reference):
    """The k most similar other words, most similar first; k = 1, 3 and V - 1."""
    words = ["king", "queen", "apple", "pear", "car", "bus", "river", "lake"]
    embeddings = spread_embeddings(8, 5, 71)
    for word, k in (("queen", 3), ("car", 1), ("river", 7), ("pear", 4)):
        index = words.index(word)
        expected = reference.nearest_neighbours(word, list(words), embeddings, k)
        call = f"nearest_neighbours({word!r}, words, embeddings, {k})"
        got = as_strings(student.nearest_neighbours(word, list(words), embeddings, k), call)
        if got == expected:
            continue
        accepted = []
        try:  # ranked by the student's own cosine_similarities: a mistake there is penalised there
            own = student.cosine_similarities(embeddings[index], embeddings)
            if isinstance(own, torch.Tensor) and own.shape == (8,):
                accepted.append([words[i] for i in ranking(own, index, k)])
        except Exception:  # noqa: BLE001
            pass
        if got in accepted:
            continue
        cosine = F.cosine_similarity(embeddings[index][None], embeddings)
        diagnoses = {
            "the word itself is in its list; exclude it": [words[i] for i in ranking(cosine, index, k, exclude=False)],
            "ranked by the dot product; the cosine divides by both lengths":
                [words[i] for i in ranking(embeddings @ embeddings[index], index, k)],
            "least similar first; sort by decreasing similarity":
                [words[i] for i in ranking(cosine, index, k, descending=False)],
            "ranked by Euclidean distance; the cosine ignores the lengths":
                [words[i] for i in ranking(-(embeddings - embeddings[index]).norm(dim=-1), index, k)],
        }
        hint = next((f"\nIt matches a known mistake: {sentence}" for sentence, wrong in diagnoses.items()
                     if got == wrong), "")
        raise AssertionError(f"{call} returned {got}, expected {expected}{hint}")
