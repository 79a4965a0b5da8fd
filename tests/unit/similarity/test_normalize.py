"""Normalised tokens: the same for renamed names, other comments and spacing; library calls kept."""

from __future__ import annotations

from grader.similarity.normalize import normalize

ORIGINAL = '''
def attention(q, k, v, mask=None):
    """Scaled dot-product attention."""
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return F.softmax(scores, dim=-1) @ v
'''

RENAMED = '''
# my version
def attention(q, k, v, mask=None):
    logits = torch.matmul(q,k.transpose(-2,-1))/math.sqrt(q.size(-1))
    if mask is not None:
        logits = logits.masked_fill(
            ~mask, float('-inf'),  # not allowed
        )

    return F.softmax(logits, dim=-1) @ v
'''


def texts(*cells: str) -> list[str]:
    return [t.text for t in normalize(list(cells))]


def test_names_comments_docstrings_and_layout_do_not_count() -> None:
    assert texts(ORIGINAL) == texts(RENAMED)


def test_library_calls_keywords_and_builtins_stay_as_written() -> None:
    tokens = texts(ORIGINAL)
    for kept in ("torch", "matmul", "transpose", "masked_fill", "softmax", "dim", "float", "math", "sqrt"):
        assert kept in tokens
    assert "scores" not in tokens and "V" in tokens
    assert texts(ORIGINAL.replace("torch.matmul(q, k.transpose(-2, -1))", 'torch.einsum("td,sd->ts", q, k)')) \
        != texts(ORIGINAL)


def test_attributes_the_student_assigns_are_chosen_names() -> None:
    first = "class M:\n    def __init__(self, d):\n        self.w_q = nn.Linear(d, d)\n        self.w_q.weight\n"
    second = first.replace("w_q", "query_projection").replace("self", "this")
    assert texts(first) == texts(second)
    assert "weight" in texts(first) and "Linear" in texts(first)


def test_token_offsets_point_into_the_cell() -> None:
    cells = ["x = 1\n", "%timeit y\ndef f(a):\n    return a + 2\n"]
    tokens = normalize(cells)
    plus = next(t for t in tokens if t.text == "+")
    assert (plus.cell, cells[1][plus.start:plus.end]) == (1, "+")
    assert all(t.cell == 1 for t in tokens[4:])  # the magic line is blanked, not tokenised


def test_broken_and_hostile_cells_never_raise() -> None:
    for cell in ["def f(:\n    return", "x = '''unterminated", "\x00\x01", "(" * 10_000, "if x:\nreturn 1\n", ""]:
        normalize([cell, "y = 2\n"])
    assert texts("def f(:\n", "y = 2\n")[-4:] == ["V", "=", "2", ";"]  # the next cell is read as ever
