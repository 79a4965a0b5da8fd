"""grader/validate/weights.py: mutants of a part's main function weighed against the rubric's `min_part_loss`.

On a copy of the tiny course (tests/fixtures/audit/tiny): part Normalize (3 points:
test_normalize_values 2, test_normalize_sums_to_one 1) names `normalize` its main function,
part Clip (2 points) names none. Nothing is graded: the losses come from mutants.yaml's
`fails:` and from an audit record written here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader.course.assignments import Assignment
from grader.kinds import load_course
from grader.validate.findings import Severity
from grader.validate.strength import audit_record_path, load_spec
from grader.validate.weights import part_loss_findings
from tests.conftest import REPO

TINY = REPO / "tests" / "fixtures" / "audit" / "tiny"
RUBRIC = """assignment: tiny
notebook: tiny.ipynb
min_part_loss: 0.5
parts:
  - name: Normalize
    main: [normalize]
    tests: {test_normalize_values: 2, test_normalize_sums_to_one: 1}
  - name: Clip
    tests: {test_clip_below: 2}
"""
MUTANTS = """mutants:
  - name: halved
    find: "return x / total"
    replace: "return x / total / 2"
    fails: [test_normalize_sums_to_one]
  - name: not_normalized
    find: "total = x.sum() * 1"
    replace: "total = 1.0"
    fails: [test_normalize_values, test_normalize_sums_to_one]
  - name: clip_swapped
    find: "np.where(x < low, low, x)"
    replace: "np.where(x < low, x, low)"
    fails: [test_clip_below]
alternatives:
  - name: true_divide
    find: "return x / total"
    replace: "return np.true_divide(x, total)"
"""
HALVED = ("tiny: warning: mutant halved of normalize loses 1/3 points of part 'Normalize' (33%), under "
          "min_part_loss 50%: weigh the tests that catch it more, or add one (rubrics/tiny.yaml)")


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = Path(shutil.copytree(TINY, tmp_path / "course"))
    (root / "rubrics/tiny.yaml").write_text(RUBRIC)
    (root / "reference/tiny/mutants.yaml").write_text(MUTANTS)
    monkeypatch.chdir(root)  # findings name files relative to the working folder
    return root


def assignment(root: Path) -> Assignment:
    return load_course(root).assignments["tiny"]


def findings(root: Path) -> list[str]:
    tiny = assignment(root)
    return [f.line() for f in part_loss_findings(tiny, load_spec(tiny))]


def write_audit(root: Path, caught: list[dict], **changes: str) -> None:
    path = audit_record_path(root, "tiny")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"assignment": "tiny", **assignment(root).hashes, **changes, "mutation_score": 1.0,
                                "survivors": [], "caught_mutants": caught}))


def caught(mutant_id: str, scope: str, failed: list[str], losses: dict[str, float] | None) -> dict:
    entry = {"id": mutant_id, "operator": "arithmetic", "description": "/ became *", "scope": scope,
             "failed_tests": failed, "points_lost": sum((losses or {}).values())}
    if losses is not None:
        entry["part_losses"] = [{"part": part, "lost": lost, "points": 3.0, "share": lost / 3} for part, lost in
                                losses.items()]
    return entry


def test_a_mutant_of_the_main_function_losing_under_the_bound_is_one_warning_line(course: Path) -> None:
    assert findings(course) == [HALVED]  # not_normalized loses 3/3; clip_swapped's part names no main


def test_a_bound_of_the_part_overrides_the_rubrics(course: Path) -> None:
    rubric = course / "rubrics/tiny.yaml"
    rubric.write_text(RUBRIC.replace("    main: [normalize]\n", "    main: [normalize]\n    min_part_loss: 0.3\n"))
    assert findings(course) == []
    rubric.write_text(RUBRIC.replace("min_part_loss: 0.5", "min_part_loss: 1"))
    assert len(findings(course)) == 1 and "under min_part_loss 100%" in findings(course)[0]


def test_on_weak_suite_fail_makes_it_a_problem(course: Path) -> None:
    (course / "rubrics/tiny.yaml").write_text(RUBRIC + "on_weak_suite: fail\n")
    tiny = assignment(course)
    (finding,) = part_loss_findings(tiny, load_spec(tiny))
    assert finding.severity is Severity.PROBLEM and finding.line() == HALVED.replace("warning: ", "")


def test_without_the_keys_nothing_is_checked(course: Path) -> None:
    (course / "rubrics/tiny.yaml").write_text(RUBRIC.replace("min_part_loss: 0.5\n", ""))
    assert findings(course) == []


def test_a_bound_without_any_main_function_is_a_warning(course: Path) -> None:
    (course / "rubrics/tiny.yaml").write_text(RUBRIC.replace("    main: [normalize]\n", ""))
    assert findings(course) == ["tiny: warning: the rubric sets min_part_loss but no part names its main "
                                "function(s): add `main: [function]` to the parts it is for (rubrics/tiny.yaml)"]


def test_a_main_the_reference_does_not_define_is_a_problem(course: Path) -> None:
    (course / "rubrics/tiny.yaml").write_text(RUBRIC.replace("main: [normalize]", "main: [normalise, normalize]"))
    assert findings(course) == [
        "tiny: part 'Normalize' names main 'normalise', which the reference notebook does not define at the top "
        "level of a code cell: name a function or class it defines (rubrics/tiny.yaml)", HALVED]


def test_the_current_audits_caught_mutants_of_the_main_function_are_weighed_too(course: Path) -> None:
    write_audit(course, [caught("m1", "normalize", ["test_normalize_values"], {"Normalize": 2.0}),  # 67%
                         caught("m2", "normalize", ["test_normalize_sums_to_one"], {"Normalize": 1.0}),  # 33%
                         caught("m3", "normalize", ["test_clip_below"], {"Clip": 2.0}),  # 0 of Normalize
                         caught("m4", "clip_below", ["test_clip_below"], {"Clip": 0.5}),  # no main: not weighed
                         caught("m5", "normalize", ["test_normalize_sums_to_one", "scratch_rule"], None)])  # older
    audit = [line for line in findings(course) if "grade audit" in line]
    assert audit == [
        f"tiny: warning: mutant {m} (arithmetic: / became *, grade audit) of normalize loses {lost} points of part "
        f"'Normalize' ({share}), under min_part_loss 50%: weigh the tests that catch it more, or add one "
        "(rubrics/tiny.yaml)"
        for m, lost, share in (("m2", "1/3", "33%"), ("m3", "0/3", "0%"), ("m5", "1/3", "33%"))]


def test_a_stale_audit_record_is_not_weighed(course: Path) -> None:
    write_audit(course, [caught("m2", "normalize", ["test_normalize_sums_to_one"], {"Normalize": 1.0})],
                tests_hash="older")
    assert findings(course) == [HALVED]
