"""A class of notebook 05 (attention) built for `grade similarity`: copied pairs, a pair that
shares only the starter code, and independent solutions that are written differently.

A solution is six parts, each written one of five ways: how the scores are computed, how the
mask is applied, how the softmax and the output are taken, the causal mask, the multi-head
constructor and its forward pass (with the helpers it uses). A student is a point (x, y)
of the affine plane over Z5 and writes part c the way `(x + c * y) % 5` says (part 5: the way
`y` says), so two different students write at most one of the six parts the same way: the
most two students who worked alone share, short of a common idiom.

A copy takes another student's notebook and renames every name they chose (not the ones the
starter and its tests fix), reorders the methods of the class and the statements that can
move, rewrites the comments and respaces the code.
"""

from __future__ import annotations

import io
import random
import re
import tokenize
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "05_attention_mechanism"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
REFERENCE = REPO / "reference" / ASSIGNMENT / NOTEBOOK

# ---- scaled_dot_product_attention: the scores (end with `scores` holding (..., T, S)) --------
SCORES = [
    """    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
""",
    """    dim = q.shape[-1]
    scores = torch.einsum("...td,...sd->...ts", q, k) / dim ** 0.5
""",
    """    d = k.size(-1)
    q = q / math.sqrt(d)
    scores = q @ k.transpose(-2, -1)
""",
    """    *lead, n_q, d = q.shape
    n_k = k.shape[-2]
    flat = torch.bmm(q.reshape(-1, n_q, d), k.reshape(-1, n_k, d).transpose(1, 2))
    scores = flat.div(math.sqrt(d)).reshape(*lead, n_q, n_k)
""",
    """    factor = q.size(-1) ** -0.5
    rows = []
    for t in range(q.size(-2)):
        rows.append((q[..., t:t + 1, :] * factor) @ k.mT)
    scores = torch.cat(rows, dim=-2)
""",
]

# ---- the mask: bool (False: may not attend) or float (added) -----------------------------
MASKS = [
    """    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(mask.logical_not(), -float("inf"))
        else:
            scores = scores + mask
""",
    """    if mask is not None:
        bias = mask if mask.dtype != torch.bool else torch.where(mask, 0.0, float("-inf"))
        scores = scores + bias
""",
    """    if mask is not None and mask.dtype == torch.bool:
        scores = scores.masked_fill(mask == False, float("-inf"))
    elif mask is not None:
        scores += mask
""",
    """    if mask is None:
        pass
    elif mask.dtype is torch.bool:
        lowest = torch.finfo(scores.dtype).min
        scores = torch.where(mask, scores, torch.full_like(scores, lowest))
    else:
        scores = scores.add(mask)
""",
    """    additive = None
    if mask is not None:
        additive = torch.zeros_like(scores).masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else mask
    if additive is not None:
        scores = scores + additive
""",
]

# ---- softmax over the keys, then the weighted values ---------------------------------------
SOFTMAXES = [
    """    attn = F.softmax(scores, dim=-1)
    return torch.matmul(attn, v), attn
""",
    """    p = scores.softmax(dim=-1)
    out = torch.einsum("...ts,...sd->...td", p, v)
    return out, p
""",
    """    shifted = scores - scores.amax(dim=-1, keepdim=True)
    e = torch.exp(shifted)
    probs = e / e.sum(dim=-1, keepdim=True)
    return probs @ v, probs
""",
    """    weights = torch.exp(torch.log_softmax(scores, dim=-1))
    result = weights.matmul(v)
    return result, weights
""",
    """    a = torch.nn.functional.softmax(scores, -1)
    context = (a.unsqueeze(-1) * v.unsqueeze(-3)).sum(dim=-2)
    return context, a
""",
]

# ---- causal_mask ----------------------------------------------------------------------------
CAUSAL = [
    """    return torch.tril(torch.ones(size, size)).bool()
""",
    """    idx = torch.arange(size)
    return idx[None, :] <= idx[:, None]
""",
    """    m = torch.zeros(size, size, dtype=torch.bool)
    for i in range(size):
        m[i, : i + 1] = True
    return m
""",
    """    upper = torch.triu(torch.ones(size, size, dtype=torch.bool), diagonal=1)
    return ~upper
""",
    """    return torch.tensor([[s <= t for s in range(size)] for t in range(size)])
""",
]

# ---- MultiHeadAttention.__init__ (after super().__init__()); sets HEADS and WIDTH ------------
INITS = [
    """        assert d_model % num_heads == 0, "d_model must be divisible by num_heads"
        self.HEADS = num_heads
        self.WIDTH = d_model // num_heads
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Linear(d_model, d_model) for _ in range(4))
""",
    """        if d_model % num_heads:
            raise ValueError("num_heads must divide d_model")
        self.HEADS, self.WIDTH = num_heads, d_model // num_heads
        for name in ("w_q", "w_k", "w_v", "w_o"):
            setattr(self, name, nn.Linear(d_model, d_model, bias=True))
""",
    """        self.HEADS = num_heads
        self.WIDTH, remainder = divmod(d_model, num_heads)
        if remainder != 0:
            raise ValueError(f"{num_heads} heads cannot split {d_model} features")
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)
""",
    """        self.HEADS = num_heads
        self.WIDTH = d_model // num_heads
        assert self.WIDTH * num_heads == d_model
        projections = [nn.Linear(d_model, d_model) for _ in range(4)]
        self.w_q, self.w_k, self.w_v, self.w_o = projections
""",
    """        torch._assert(d_model % num_heads == 0, "heads must divide the model size")
        self.HEADS = num_heads
        self.WIDTH = d_model // num_heads
        make = lambda: nn.Linear(d_model, d_model)
        self.w_q = make()
        self.w_k = make()
        self.w_v = make()
        self.w_o = make()
""",
]

# ---- MultiHeadAttention.forward: (helper methods, forward body) ---------------------------
FORWARDS = [
    ("", """        batch = query.size(0)

        def split(x):
            return x.view(batch, -1, self.HEADS, self.WIDTH).transpose(1, 2)

        q, k, v = split(self.w_q(query)), split(self.w_k(key)), split(self.w_v(value))
        out, attn = scaled_dot_product_attention(q, k, v, mask)
        out = out.transpose(1, 2).contiguous().view(batch, -1, self.HEADS * self.WIDTH)
        return self.w_o(out), attn
"""),
    ("", """        B, T, _ = query.shape
        S = key.shape[1]
        q = self.w_q(query).reshape(B, T, self.HEADS, -1).permute(0, 2, 1, 3)
        k = self.w_k(key).reshape(B, S, self.HEADS, -1).permute(0, 2, 1, 3)
        v = self.w_v(value).reshape(B, S, self.HEADS, -1).permute(0, 2, 1, 3)
        ctx, w = scaled_dot_product_attention(q, k, v, mask=mask)
        ctx = ctx.permute(0, 2, 1, 3).reshape(B, T, -1)
        return self.w_o(ctx), w
"""),
    ("", """        q_all, k_all, v_all = self.w_q(query), self.w_k(key), self.w_v(value)
        outputs, weights = [], []
        for i in range(self.HEADS):
            part = slice(i * self.WIDTH, (i + 1) * self.WIDTH)
            o, w = scaled_dot_product_attention(q_all[..., part], k_all[..., part], v_all[..., part], mask)
            outputs.append(o)
            weights.append(w)
        return self.w_o(torch.cat(outputs, dim=-1)), torch.stack(weights, dim=1)
"""),
    ("""    def to_heads(self, x):
        return torch.stack(x.chunk(self.HEADS, dim=-1), dim=1)

    def from_heads(self, x):
        return torch.cat(x.unbind(dim=1), dim=-1)

""", """        attended, probs = scaled_dot_product_attention(
            self.to_heads(self.w_q(query)), self.to_heads(self.w_k(key)), self.to_heads(self.w_v(value)), mask)
        return self.w_o(self.from_heads(attended)), probs
"""),
    ("""    def split_heads(self, x):
        b, n, _ = x.shape
        return x.view(b, n, self.HEADS, self.WIDTH).swapaxes(1, 2)

    def merge_heads(self, x):
        b, _, n, _ = x.shape
        return x.swapaxes(1, 2).reshape(b, n, self.HEADS * self.WIDTH)

""", """        heads = [self.split_heads(proj(x)) for proj, x in ((self.w_q, query), (self.w_k, key), (self.w_v, value))]
        y, a = scaled_dot_product_attention(*heads, mask=mask)
        return self.w_o(self.merge_heads(y)), a
"""),
]

PARTS = (SCORES, MASKS, SOFTMAXES, CAUSAL, INITS, FORWARDS)
HEAD_NAMES = ["num_heads", "heads", "n_heads", "h", "nh"]
WIDTH_NAMES = ["d_k", "head_dim", "d_head", "size_per_head", "dk"]


@dataclass(frozen=True)
class Student:
    name: str
    ways: tuple[int, ...]  # one variant index per part


def plane_ways(x: int, y: int) -> tuple[int, ...]:
    """The ways of the student at (x, y): two students share at most one (see the docstring)."""
    return tuple((x + c * y) % 5 for c in range(5)) + (y,)


def solution_cells(ways: tuple[int, ...]) -> dict[int, str]:
    """The code cells a student wrote, by index among the reference's cells."""
    score, mask, softmax, causal, init, forward = ways
    helpers, body = FORWARDS[forward]
    names = {"HEADS": HEAD_NAMES[(init + forward) % 5], "WIDTH": WIDTH_NAMES[(init * 2 + forward) % 5]}
    attention = ('def scaled_dot_product_attention(q, k, v, mask=None):\n'
                 '    """Attention(Q, K, V) = softmax(QK^T / sqrt(d_k)) V, Vaswani et al. 2017, eq. 1; '
                 'returns (output, weights)."""\n' + SCORES[score] + MASKS[mask] + SOFTMAXES[softmax])
    causal_cell = ('def causal_mask(size):\n    """(size, size) bool mask, True where query t may attend to key '
                   's <= t (Vaswani et al. 2017, sec. 3.2.3)."""\n' + CAUSAL[causal])
    module = ('class MultiHeadAttention(nn.Module):\n'
              '    """MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O (Vaswani et al. 2017, sec. 3.2.2)."""\n\n'
              '    def __init__(self, d_model, num_heads):\n        super().__init__()\n' + INITS[init] + "\n"
              + helpers
              + '    def forward(self, query, key, value, mask=None):\n'
              '        """head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V), all heads at once; returns (output, weights)."""\n'
              + body)
    module = re.sub(r"\b(HEADS|WIDTH)\b", lambda m: names[m[1]], module)
    return {SDPA_CELL: attention, CAUSAL_CELL: causal_cell, MODULE_CELL: module}


def reference_notebook() -> nbformat.NotebookNode:
    return nbformat.read(REFERENCE, as_version=4)


def _cell_defining(header: str) -> int:
    """The index of the reference's code cell that begins with `header` (cells move when the notebook
    gains text, e.g. written questions)."""
    return next(i for i, cell in enumerate(reference_notebook().cells)
                if cell.cell_type == "code" and cell.source.startswith(header))


SDPA_CELL = _cell_defining("def scaled_dot_product_attention(")
CAUSAL_CELL = _cell_defining("def causal_mask(")
MODULE_CELL = _cell_defining("class MultiHeadAttention(")


def notebook(cells: dict[int, str], *, extra: str = "") -> nbformat.NotebookNode:
    """The released notebook with these cells written (by index); the rest as released."""
    from grader.students.strip import strip_solutions

    nb = strip_solutions(reference_notebook(), ASSIGNMENT)
    for index, source in cells.items():
        nb.cells[index].source = source
    if extra:
        nb.cells.append(nbformat.v4.new_code_cell(extra))
    return nb


# ---- copying -----------------------------------------------------------------------------
FIXED = {  # names the starter, its tests or the library fix: a copier keeps them
    "scaled_dot_product_attention", "causal_mask", "MultiHeadAttention", "q", "k", "v", "mask", "size",
    "d_model", "num_heads", "query", "key", "value", "self", "w_q", "w_k", "w_v", "w_o", "forward", "__init__",
}


def rename(source: str, seed: int) -> str:
    """Every name bound in the source and not FIXED, renamed consistently."""
    import ast

    bound, keywords = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg:
            keywords.add(node.arg)  # `dim=-1`: the callee's name, and tokens cannot tell it from a variable
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            bound.add(node.attr)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef):
            bound.add(node.name)
    rng = random.Random(seed)
    words = ["tmp", "val", "res", "buf", "acc", "cur", "mat", "arr", "tt", "zz", "aux", "blk"]
    mapping = {name: f"{rng.choice(words)}_{i}" for i, name in enumerate(sorted(bound - FIXED - keywords))}
    for constant in ("HEADS", "WIDTH"):
        mapping.pop(constant, None)
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        out.append((tok.type, mapping.get(tok.string, tok.string) if tok.type == tokenize.NAME else tok.string))
    return tokenize.untokenize(out)


def restyle(source: str, seed: int) -> str:
    """Comments rewritten, docstrings reworded, spacing changed, blank lines moved: the code unchanged."""
    rng = random.Random(seed)
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped.startswith('"""'):
            lines.append(indent + '"""My implementation (see the lecture notes)."""')
            continue
        if stripped and rng.random() < 0.4:
            lines.append(f"{indent}# step {rng.randint(1, 99)}: {rng.choice(['compute', 'now', 'careful here'])}")
        line = re.sub(r" ([*/+]) ", r"\1", line) if rng.random() < 0.5 else line
        lines.append(line.rstrip() + ("  # ok" if stripped and rng.random() < 0.2 else ""))
        if stripped and rng.random() < 0.2:
            lines.append("")
    return "\n".join(lines) + "\n"


def reorder_class(source: str) -> str:
    """The class's methods in reverse order (forward before __init__, helpers swapped)."""
    header, *methods = re.split(r"\n(?=    def )", source)
    return "\n".join([header.rstrip() + "\n", *reversed([m.rstrip() + "\n" for m in methods])])


def copy_of(cells: dict[int, str], seed: int) -> dict[int, str]:
    copied = {index: restyle(rename(source, seed + index), seed + index) for index, source in cells.items()}
    copied[MODULE_CELL] = reorder_class(copied[MODULE_CELL])
    return copied


# ---- the class ---------------------------------------------------------------------------
COPIED = [("carla_original", "carlo_copy"), ("dana_original", "dani_copy"), ("emil_original", "emma_copy")]
STARTER_ONLY = ("sol_barely_started", "tim_barely_started")
# Points of the plane: the copied students' originals first, then the independent ones.
ORIGINALS = [(0, 0), (1, 1), (2, 2)]
INDEPENDENT = [(3, 3), (4, 4), (0, 1), (1, 2), (2, 3), (3, 4), (4, 0), (0, 2), (1, 3), (2, 4)]
INDEPENDENT_NAMES = [f"indep_{i:02d}" for i in range(len(INDEPENDENT))]


def write_notebook(nb: nbformat.NotebookNode, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NOTEBOOK
    nbformat.write(nb, path)
    return path


def build_class(root: Path) -> dict[str, str]:
    """Write the class under root (student/NOTEBOOK; one copy as a zip); returns student -> role."""
    roles = {}
    for (original, copy), point in zip(COPIED, ORIGINALS):
        cells = solution_cells(plane_ways(*point))
        write_notebook(notebook(cells), root / original)
        write_notebook(notebook(copy_of(cells, seed=len(roles))), root / copy)
        roles[original], roles[copy] = "original", "copy"
    copy_zip = root / f"{COPIED[1][1]}.zip"  # a zip submission, read the way discovery finds it
    with zipfile.ZipFile(copy_zip, "w") as archive:
        archive.write(root / COPIED[1][1] / NOTEBOOK, f"{COPIED[1][1]}/{NOTEBOOK}")
    for path in (root / COPIED[1][1]).iterdir():
        path.unlink()
    (root / COPIED[1][1]).rmdir()
    released = notebook({})
    write_notebook(released, root / STARTER_ONLY[0])
    tim = notebook({SDPA_CELL: released.cells[SDPA_CELL].source.replace("    raise", "    # TODO: ask in the lab\n    raise")},
                   extra="print(torch.__version__)")
    write_notebook(tim, root / STARTER_ONLY[1])
    roles.update(dict.fromkeys(STARTER_ONLY, "starter only"))
    for name, point in zip(INDEPENDENT_NAMES, INDEPENDENT):
        write_notebook(notebook(solution_cells(plane_ways(*point))), root / name)
        roles[name] = "independent"
    broken = root / "zed_broken"
    broken.mkdir()
    (broken / NOTEBOOK).write_text('{"cells": [', encoding="utf-8")  # cut off: not JSON
    roles["zed_broken"] = "broken"
    return roles


def build_big_class(root: Path, count: int, seed: int = 0) -> list[tuple[str, str]]:
    """`count` notebooks of random ways (the benchmark's class); every tenth is a copy of an
    earlier one. Returns the (original, copy) pairs."""
    rng = random.Random(seed)
    made: list[tuple[str, dict[int, str]]] = []
    copies = []
    for index in range(count):
        name = f"student_{index:03d}"
        if made and index % 10 == 9:
            original, cells = rng.choice(made)
            cells = copy_of(cells, seed=index)
            copies.append((original, name))
        else:
            cells = solution_cells(tuple(rng.randrange(5) for _ in PARTS))
            made.append((name, cells))
        write_notebook(notebook(cells), root / name)
    return copies


