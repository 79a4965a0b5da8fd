"""grader/kernel/tamper.py: the lines of a run's output and cell errors that are worth a TA's look."""

from grader.kernel.tamper import output_signals
from grader.models import CellError, Signal, SignalKind


def test_escape_and_patch_lines_then_the_first_claim_of_success() -> None:
    errors = (CellError(5, "PermissionError", "[Errno 13] Permission denied: '../../grades.json'"),)
    output = ("found /work/x/reference/05/tests/hidden/test_a.py\n"
              "torch.allclose = lambda *a, **k: True\n"
              "All tests passed! Score: 20/20\nfull marks\n")

    assert output_signals(errors, output) == (
        Signal(SignalKind.ESCAPE, "PermissionError: [Errno 13] Permission denied: '../../grades.json'"),
        Signal(SignalKind.ESCAPE, "found /work/x/reference/05/tests/hidden/test_a.py"),
        Signal(SignalKind.PATCHED, "torch.allclose = lambda *a, **k: True"),
        Signal(SignalKind.SUCCESS_CLAIM, "All tests passed! Score: 20/20"),
    )


def test_ordinary_training_output_has_none() -> None:
    output = "epoch 1 loss 0.69\n100%|####| 10/10\naccuracy 0.81\n"
    assert output_signals((CellError(3, "NameError", "name 'attn' is not defined"),), output) == ()
