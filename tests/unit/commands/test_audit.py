"""grader/commands/audit.py: what `grade audit` prints about the cost of each caught mutant."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.commands.audit import _print
from tests.unit.audit.test_record import report_with_parts


def test_the_output_has_each_caught_mutants_part_and_shares_and_the_small_loss_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")
    report = report_with_parts()
    _print(report, Path("a.json"))
    out = capsys.readouterr().out
    assert "what each caught mutant costs (of 10 points)" in out
    header = next(line for line in out.splitlines() if "share of part" in line)
    assert [w.strip() for w in header.strip("┃│ ").split("┃")] == ["mutant", "part", "lost", "share of part",
                                                                   "share of notebook"]
    rows = {r.mutant.id: next(line for line in out.splitlines() if r.mutant.id in line) for r in report.caught}
    first, second, small = (rows[r.mutant.id] for r in report.caught)
    assert "A (+1 more)" in first and "4/6" in first and "67%" in first and "80%" in first
    assert "2/6" in second and "33%" in second and "30%" in second
    assert "0.5/6" in small and "8%" in small and "5%" in small
    assert out.index(small) < out.index(second) < out.index(first), "cheapest first"
    assert "caught mutants losing < 10% of the notebook: 33% (1 of 3)" in out
    assert "in part(s): A, B (it loses 0 points)" in out
