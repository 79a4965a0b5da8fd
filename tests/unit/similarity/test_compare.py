"""Scores: the scaffold counts for nobody, symmetric, 0..1; archived pairs only with current students."""

from __future__ import annotations

from grader.similarity.compare import Fingerprinter, compare, compare_class
from grader.similarity.sources import Document

STARTER = ["import torch\n", "def attention(q, k, v):\n    raise NotImplementedError\n",
           "out = attention(torch.ones(2, 3), torch.ones(4, 3), torch.ones(4, 5))\nprint(out.shape, out.sum())\n"]
REFERENCE = [STARTER[0], "def attention(q, k, v):\n    return torch.softmax(q @ k.T / q.shape[-1] ** 0.5, -1) @ v\n",
             STARTER[2]]
LOOPS = """def attention(q, k, v):
    rows = []
    for i in range(q.shape[0]):
        weights = [float(torch.dot(q[i], k[j])) / math.sqrt(q.shape[1]) for j in range(k.shape[0])]
        weights = torch.tensor(weights).softmax(dim=0)
        rows.append((weights[:, None] * v).sum(dim=0))
    return torch.stack(rows)
"""
EINSUM = """def attention(q, k, v):
    d_k = q.size(-1)
    scores = torch.einsum("td,sd->ts", q, k).div(d_k ** 0.5)
    probs = scores - scores.logsumexp(dim=-1, keepdim=True)
    return torch.einsum("ts,sd->td", probs.exp(), v)
"""


def document(student: str, solution: str | None, *, archived: bool = False) -> Document:
    cells = list(STARTER)
    if solution is not None:
        cells[1] = solution
    return Document(student, tuple(cells), archived)


def test_the_scaffold_and_the_reference_count_for_nobody() -> None:
    fingerprinter = Fingerprinter(STARTER, REFERENCE)
    blank = [fingerprinter.fingerprint(document(name, None)) for name in ("a", "b")]
    solved = [fingerprinter.fingerprint(document(name, REFERENCE[1])) for name in ("c", "d")]
    assert compare(*blank).score == 0.0 and compare(*solved).score == 0.0
    assert blank[0].fingerprint.token_coverage == 0 and blank[0].own_cells == ()


def test_a_copy_scores_near_one_different_work_near_zero_and_the_score_is_symmetric() -> None:
    fingerprinter = Fingerprinter(STARTER, REFERENCE)
    loops = fingerprinter.fingerprint(document("ann", LOOPS))
    copy = fingerprinter.fingerprint(document("bob", LOOPS.replace("rows", "acc").replace("weights", "w")))
    other = fingerprinter.fingerprint(document("cy", EINSUM))
    pair = compare(copy, loops, regions=True)
    assert (pair.a, pair.b) == ("ann", "bob") and pair.score > 0.95
    assert compare(loops, copy).score == pair.score
    assert compare(loops, other).score < 0.1
    assert pair.a_regions and all(r.cell == 1 for r in pair.a_regions)
    marked = "".join(LOOPS[r.start:r.end] for r in pair.a_regions)
    assert "torch.dot" in marked


def test_archived_submissions_meet_current_students_only() -> None:
    fingerprinter = Fingerprinter(STARTER, REFERENCE)
    current = [fingerprinter.fingerprint(document(n, LOOPS)) for n in ("ann", "bob")]
    archived = [fingerprinter.fingerprint(document(f"2025/{n}", LOOPS, archived=True)) for n in ("old1", "old2")]
    pairs = compare_class(current, archived)
    assert {(p.a, p.b) for p in pairs} == {("ann", "bob"), ("ann", "2025/old1"), ("ann", "2025/old2"),
                                           ("bob", "2025/old1"), ("bob", "2025/old2")}
    assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
