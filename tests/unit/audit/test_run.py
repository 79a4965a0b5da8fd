"""`grade audit`'s refusals: what the instructor asked for cannot be audited."""

from __future__ import annotations

from click.testing import CliRunner

from grader.cli import main
from tests.conftest import REPO


def test_audit_refuses_the_model_kind() -> None:
    result = CliRunner().invoke(main, ["audit", "homework", "--course", str(REPO), "--no-sandbox"])
    assert result.exit_code == 1
    assert "homework is a model assignment" in result.output


def test_audit_refuses_an_unknown_assignment_or_operator() -> None:
    result = CliRunner().invoke(main, ["audit", "nope", "--course", str(REPO), "--no-sandbox"])
    assert result.exit_code == 1 and "unknown assignment 'nope'" in result.output
    result = CliRunner().invoke(main, ["audit", "05_attention_mechanism", "--course", str(REPO), "--no-sandbox",
                                       "--operators", "softmax_dim,typo"])
    assert result.exit_code == 1 and "unknown operator(s) typo" in result.output
