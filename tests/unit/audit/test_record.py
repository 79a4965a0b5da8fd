"""The audit record (`.grade/audit/<assignment>.json`): the keys `grade validate` reads, the counts, the bands."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import nbformat

from grader.audit.generate import Mutant, generate_mutants
from grader.audit.record import loss_bands, to_dict, write_record
from grader.audit.run import AuditReport, MutantResult
from grader.models import Fingerprint, Grade, Outcome, Status
from grader.models import TestResult as Result

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


def scored(**lost: float) -> tuple[Result, ...]:
    """A 10-point rubric: part A (test_a1 4, test_a2 2), part B (test_b 4, rule_b a deduction); `lost` per test."""
    layout = {"test_a1": ("A", 4.0), "test_a2": ("A", 2.0), "test_b": ("B", 4.0), "rule_b": ("B", 0.0)}
    return tuple(Result(test, part, Outcome.PASSED if not lost.get(test) else Outcome.FAILED,
                            points=points - lost.get(test, 0.0), max_points=points)
                 for test, (part, points) in layout.items())


def report_with_parts() -> AuditReport:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    m = generate_mutants(nb)[:4]

    def result(mutant: Mutant, tests: tuple[Result, ...], covering: tuple[str, ...] = ("test_a1",)) -> MutantResult:
        score = sum(t.points for t in tests)
        return MutantResult(mutant, False, "differs", covering, replace(grade(score), tests=tests))

    results = [result(m[0], scored(test_a1=4.0, test_b=4.0)),  # 4 of A's 6, 4 of B's 4: a tie, A first
               result(m[1], scored(test_a2=2.0, rule_b=1.0)),  # 2 of A's 6 (the most), 1 of B's 4 (a deduction)
               result(m[2], scored(test_a2=0.5)),  # 0.5 of 10: under 10% of the notebook
               result(m[3], scored(), ("test_a2", "test_b"))]  # survived
    return AuditReport(assignment="a", hashes=HASHES, max_score=10.0, generated=4, results=results, seconds=1.0,
                       jobs=1, seed=0, operators=("arithmetic",), sampled=False, reused=0)


def test_each_caught_mutant_records_its_part_and_its_share_of_the_part_and_of_the_notebook() -> None:
    data = to_dict(report_with_parts())
    rows = [{k: c[k] for k in ("part", "part_lost", "part_points", "share_of_part", "share_of_notebook")}
            for c in data["caught_mutants"]]
    assert rows == [
        {"part": "A", "part_lost": 4.0, "part_points": 6.0, "share_of_part": 0.6667, "share_of_notebook": 0.8},
        {"part": "A", "part_lost": 2.0, "part_points": 6.0, "share_of_part": 0.3333, "share_of_notebook": 0.3},
        {"part": "A", "part_lost": 0.5, "part_points": 6.0, "share_of_part": 0.0833, "share_of_notebook": 0.05}]
    assert data["caught_mutants"][0]["part_losses"] == [{"part": "A", "lost": 4.0, "points": 6.0, "share": 0.6667},
                                                        {"part": "B", "lost": 4.0, "points": 4.0, "share": 1.0}]
    assert data["caught_mutants"][1]["part_losses"][1] == {"part": "B", "lost": 1.0, "points": 4.0, "share": 0.25}
    assert (data["caught_losing_under_10_percent"], data["share_caught_losing_under_10_percent"]) == (1, 0.3333)
    assert data["survivors"][0]["parts"] == ["A", "B"]
    assert data["caught_mutants"][0]["points_lost"] == 8.0  # the existing keys stay as they were


def test_a_caught_mutant_without_test_results_has_no_part() -> None:
    data = to_dict(report())
    assert [c["part"] for c in data["caught_mutants"]] == [None, None, None]
    assert [c["share_of_notebook"] for c in data["caught_mutants"]] == [0.05, 0.6, 1.0]
    assert (data["caught_losing_under_10_percent"], data["share_caught_losing_under_10_percent"]) == (1, 0.3333)
