"""Each mutation operator on the snippet it exists for: the mutant is the mistake, and it compiles."""

from __future__ import annotations

import textwrap

import pytest

from grader.audit.generate import mutate_source
from grader.audit.operators import BY_NAME, OPERATORS


def mutants(operator: str, source: str, *, uses_torch: bool = True) -> set[str]:
    """Every mutant the operator makes of `source` (all of it counts as a solution region)."""
    source = textwrap.dedent(source).strip()
    return {new for _, _, new in mutate_source(source, (BY_NAME[operator],), uses_torch=uses_torch,
                                               regions=[(0, 10 ** 6)])}


def test_softmax_dim() -> None:
    assert mutants("softmax_dim", "w = torch.softmax(s, dim=-1)") == {"w = torch.softmax(s, dim=-2)"}
    assert mutants("softmax_dim", "w = F.log_softmax(s, -1)") == {"w = F.log_softmax(s, -2)"}
    assert mutants("softmax_dim", "w = s.softmax(dim=1)") == {"w = s.softmax(dim=0)"}
    assert mutants("softmax_dim", "w = s.softmax(0)") == {"w = s.softmax(1)"}


def test_reduction_dim_and_keepdim() -> None:
    assert mutants("reduction_dim", "m = x.mean(dim=0)") == {"m = x.mean(dim=1)"}
    assert mutants("reduction_dim", "m = np.sum(x, axis=1)") == {"m = np.sum(x, axis=0)"}
    assert mutants("reduction_dim", "m = x.sum(-1, keepdim=True)") == {"m = x.sum(-2, keepdim=True)", "m = x.sum(-1)"}


def test_scale_factor_dropped_or_without_square_root() -> None:
    found = mutants("scale_factor", "s = q @ k.T / math.sqrt(d_k)")
    assert found == {"s = q @ k.T", "s = q @ k.T / d_k"}
    assert mutants("scale_factor", "s = (q @ k.T) * self.scale") == {"s = q @ k.T"}
    assert mutants("scale_factor", "s = x * d ** -0.5") == {"s = x"}


def test_transpose_dropped() -> None:
    assert mutants("transpose", "s = q @ k.transpose(-2, -1)") == {"s = q @ k"}
    assert mutants("transpose", "s = q @ k.T") == {"s = q @ k"}
    assert mutants("transpose", "y = x.permute(0, 2, 1)") == {"y = x"}


def test_swapped_operands() -> None:
    assert mutants("swap_operands", "out = w @ v") == {"out = v @ w"}
    assert mutants("swap_operands", "d = a - b * c") == {"d = b * c - a"}
    assert mutants("swap_operands", "out = torch.matmul(w, v)") == {"out = torch.matmul(v, w)"}


def test_mask_inversion() -> None:
    assert mutants("mask_inversion", "s = s.masked_fill(~mask, float('-inf'))") == \
        {"s = s.masked_fill(mask, float('-inf'))"}
    assert mutants("mask_inversion", "s = s.masked_fill(mask == 0, -1e9)") == {"s = s.masked_fill(~(mask == 0), -1e9)"}
    assert mutants("mask_inversion", "m = torch.ones(n, n).tril()") == {"m = torch.ones(n, n).triu()"}
    assert mutants("mask_inversion", "y = torch.where(c, a, b)") == {"y = torch.where(c, b, a)"}


def test_off_by_one_slice_diagonal_and_range() -> None:
    assert mutants("off_by_one", "y = x[:, :t]") == {"y = x[:, :t + 1]", "y = x[:, :t - 1]"}
    assert mutants("off_by_one", "y = x[1:]") == {"y = x[2:]", "y = x[0:]"}
    assert mutants("off_by_one", "m = ones.tril()") == {"m = ones.tril(diagonal=1)", "m = ones.tril(diagonal=-1)"}
    assert mutants("off_by_one", "m = torch.triu(ones, 1)") == {"m = torch.triu(ones, 2)", "m = torch.triu(ones, 0)"}
    assert mutants("off_by_one", "for i in range(n):\n    pass") == \
        {"for i in range(n + 1):\n    pass", "for i in range(n - 1):\n    pass"}


def test_missing_bias() -> None:
    assert mutants("missing_bias", "self.fc = nn.Linear(d, h)") == {"self.fc = nn.Linear(d, h, bias=False)"}
    assert mutants("missing_bias", "z = x @ W + b") == {"z = x @ W"}
    assert mutants("missing_bias", "z = self.bias + x @ self.W") == {"z = x @ self.W"}
    assert mutants("missing_bias", "self.fc = nn.Linear(d, h, bias=False)") == set()


def test_missing_residual() -> None:
    assert mutants("missing_residual", "x = x + self.attn(self.norm(x))") == {"x = self.attn(self.norm(x))"}
    assert mutants("missing_residual", "x += self.ff(x)") == {"x = self.ff(x)"}
    assert mutants("missing_residual", "y = a + b") == set()  # no operand feeds the other: not a residual


def test_detach_only_in_torch_code() -> None:
    assert mutants("detach", "h = torch.tanh(x @ W)") == {"h = torch.tanh(x @ W).detach()"}
    assert mutants("detach", "def f(x):\n    return x @ W + b") == {"def f(x):\n    return (x @ W + b).detach()"}
    assert mutants("detach", "h = np.tanh(x @ W)", uses_torch=False) == set()
    assert mutants("detach", "layer = nn.Linear(2, 3)") == set()  # a constructor, not a computed tensor


def test_mean_and_sum_swapped() -> None:
    assert mutants("mean_sum", "loss = losses.mean()") == {"loss = losses.sum()"}
    assert mutants("mean_sum", "loss = torch.sum(x, dim=0)") == {"loss = torch.mean(x, dim=0)"}
    assert mutants("mean_sum", "f = nn.CrossEntropyLoss(reduction='mean')") == {"f = nn.CrossEntropyLoss(reduction='sum')"}


def test_sign() -> None:
    assert mutants("sign", "loss = -torch.log(p).mean()") == {"loss = torch.log(p).mean()"}
    assert mutants("sign", "s = s.masked_fill(m, float('-inf'))") == {"s = s.masked_fill(m, float('inf'))"}
    assert mutants("sign", "def f(p):\n    return torch.log(p)") == {"def f(p):\n    return -torch.log(p)"}


def test_generic_operators() -> None:
    assert mutants("arithmetic", "y = a * (b + c)") == {"y = a / (b + c)", "y = a * (b - c)"}
    assert mutants("arithmetic", "y = a * b + c") == {"y = a / b + c", "y = a * b - c"}
    assert mutants("arithmetic", "y = a + b * c") == {"y = a - b * c", "y = a + b / c"}
    assert mutants("arithmetic", "y = q @ k") == {"y = q * k"}
    assert mutants("comparison", "ok = n < m") == {"ok = n <= m"}
    assert mutants("constant", "n = 3") == {"n = 4", "n = 2"}
    assert mutants("constant", "ok = True") == {"ok = False"}
    assert mutants("boolean", "ok = a and not b") == {"ok = a or not b", "ok = a and b"}
    assert mutants("statement", "loss.backward()\nopt.step()") == {"pass\nopt.step()", "loss.backward()\npass"}


def test_precedence_is_kept_by_parentheses() -> None:
    """A replacement that binds more loosely than what it replaces is parenthesised."""
    assert mutants("swap_operands", "d = (a - b) - c") == {"d = c - (a - b)", "d = (b - a) - c"}
    assert mutants("detach", "h = a + b") == {"h = (a + b).detach()"}
    assert "y = (a - b) * c" in mutants("arithmetic", "y = (a + b) * c")  # the source's parentheses stay
    assert "y = (-x) ** 2" not in mutants("sign", "y = x ** 2")


def test_every_mutant_compiles_and_comments_stay() -> None:
    source = "s = q @ k.transpose(-2, -1) / math.sqrt(d)  # (T, S)\nw = torch.softmax(s, dim=-1)  # rows"
    for operator in OPERATORS:
        for new in mutants(operator.name, source):
            compile(new, "<mutant>", "exec")
            assert "# (T, S)" in new and "# rows" in new


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda o: o.name)
def test_operators_are_described(operator) -> None:
    assert operator.name and operator.description
