"""The audit record (`.grade/audit/<assignment>.json`): the keys `grade validate` reads, the counts, the bands."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from grader.audit.generate import generate_mutants
from grader.audit.record import loss_bands, to_dict, write_record
from grader.audit.run import AuditReport, MutantResult
from grader.models import Fingerprint, Grade, Status

HASHES = {"tests_hash": "t", "reference_hash": "r", "rubric_hash": "b"}
CELL = "def f(x, d):\n    ### BEGIN SOLUTION\n    return x / math.sqrt(d) + 1\n    ### END SOLUTION"


def grade(score: float, status: Status = Status.GRADED) -> Grade:
    return Grade(student="m", assignment="a", status=status, score=score, max_score=10.0, message="",
                 fingerprint=Fingerprint("s", "t", "r", "b", "0"))


def report() -> AuditReport:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    m = generate_mutants(nb)[:5]
    results = [MutantResult(m[0], True, "same", ()),
               MutantResult(m[1], False, "differs", ("test_f",), grade(10.0)),  # survived
               MutantResult(m[2], False, "differs", ("test_f",), grade(9.5)),  # loses 5%
               MutantResult(m[3], False, "differs", ("test_f",), grade(4.0)),  # loses 60%
               MutantResult(m[4], False, "differs", ("test_f",), grade(0.0, Status.TIMEOUT))]
    return AuditReport(assignment="a", hashes=HASHES, max_score=10.0, generated=9, results=results, seconds=3.2,
                       jobs=2, seed=0, operators=("arithmetic",), sampled=True, reused=1)


def test_record_keys_and_counts(tmp_path: Path) -> None:
    data = json.loads(write_record(report(), tmp_path / ".grade/audit/a.json").read_text())
    assert {k: data[k] for k in HASHES} == HASHES
    assert (data["generated"], data["audited"], data["equivalent"], data["graded"], data["caught"]) == (9, 5, 1, 4, 3)
    assert data["mutation_score"] == 0.75 and data["sampled"] and data["jobs"] == 2 and data["seconds"] == 3.2
    survivor = data["survivors"][0]
    assert set(survivor) >= {"operator", "cell", "line", "diff", "tests"} and survivor["tests"] == ["test_f"]
    assert [c["points_lost"] for c in data["caught_mutants"]] == [0.5, 6.0, 10.0]
    assert data["caught_mutants"][2]["status"] == "timeout"
    assert data == to_dict(report()) | {"seconds": 3.2}


def test_loss_bands() -> None:
    assert loss_bands(report()) == {"<= 10%": 1, "<= 25%": 0, "<= 50%": 0, "<= 100%": 2}
