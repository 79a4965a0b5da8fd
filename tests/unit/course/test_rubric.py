"""grader/course/rubric.py: reading a rubric, scoring outcomes against it, and its checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course.rubric import Rubric, load_rubric
from grader.errors import RubricError

RUBRIC = """
assignment: demo
notebook: demo.ipynb
parts:
  - name: Convolution
    tests: {test_a: 2, test_b: 1}
    from_scratch:
      - rule: scratch_conv2d
        within: [conv2d]
        forbid: [torch.nn.functional.conv2d]
        points: 2
        why: write it yourself
"""

ATTENTION = """
assignment: 05_attention_mechanism
title: Attention
parts:
  - name: Scaled dot-product attention
    tests: {test_scores: 2, test_softmax: 1.5}
  - name: Masks
    tests: {test_causal_mask: 3, test_padding_mask: 0}
    from_scratch:
      - rule: scratch_softmax
        within: [masked_softmax]
        forbid: [torch.softmax, torch.nn.functional.softmax]
        points: 1
"""


def rubric_from(text: str, tmp_path: Path, name: str = "rubric.yaml") -> Rubric:
    path = tmp_path / name
    path.write_text(text)
    return load_rubric(path)


def outcomes(**verdicts: str) -> dict[str, tuple[str, str, float]]:
    return {name: (verdict, f"{name} {verdict}", 0.123456) for name, verdict in verdicts.items()}


def test_a_rubric_is_read_with_its_parts_points_rules_and_defaults(tmp_path: Path) -> None:
    rubric = rubric_from(ATTENTION, tmp_path)
    assert (rubric.assignment, rubric.title, rubric.notebook, rubric.kind) == (
        "05_attention_mechanism", "Attention", "05_attention_mechanism.ipynb", "notebook")
    assert [part.name for part in rubric.parts] == ["Scaled dot-product attention", "Masks"]
    assert rubric.tests == {"test_scores": ("Scaled dot-product attention", 2.0),
                            "test_softmax": ("Scaled dot-product attention", 1.5),
                            "test_causal_mask": ("Masks", 3.0), "test_padding_mask": ("Masks", 0.0)}
    assert rubric.max_score == 6.5  # rules deduct; they add nothing to the maximum
    (rule,) = rubric.rules
    assert (rule.rule, rule.within, rule.forbid, rule.points) == (
        "scratch_softmax", ("masked_softmax",), ("torch.softmax", "torch.nn.functional.softmax"), 1.0)
    assert rule.why == "scratch_softmax: write it from scratch"


def test_scores_follow_the_rubric_order_with_partial_credit_per_test(tmp_path: Path) -> None:
    rubric = rubric_from(ATTENTION, tmp_path)
    results = rubric.score(outcomes(test_causal_mask="passed", test_scores="passed", test_softmax="failed",
                                    test_padding_mask="passed", scratch_softmax="passed"))
    assert [(r.test_id, r.part, r.outcome, r.points, r.max_points) for r in results] == [
        ("test_scores", "Scaled dot-product attention", "passed", 2.0, 2.0),
        ("test_softmax", "Scaled dot-product attention", "failed", 0.0, 1.5),
        ("test_causal_mask", "Masks", "passed", 3.0, 3.0),
        ("test_padding_mask", "Masks", "passed", 0.0, 0.0),
        ("scratch_softmax", "Masks", "passed", 0.0, 0.0),
    ]
    assert results[1].message == "test_softmax failed" and results[0].duration_s == 0.1235
    assert sum(r.points for r in results) == 5.0


def test_each_result_carries_the_student_message_its_check_recorded(tmp_path: Path) -> None:
    rubric = rubric_from(ATTENTION, tmp_path)
    results = {r.test_id: r for r in rubric.score(outcomes(test_softmax="failed", test_scores="failed"),
                                                  student_messages={"test_softmax": "softmax: got shape (2)"})}
    assert results["test_softmax"].student_message == "softmax: got shape (2)"
    assert results["test_scores"].student_message is None and results["scratch_softmax"].student_message is None


@pytest.mark.parametrize("verdict", ["failed", "error", "skipped"])
def test_only_a_passed_test_earns_points(tmp_path: Path, verdict: str) -> None:
    rubric = rubric_from(ATTENTION, tmp_path)
    results = rubric.score(outcomes(test_scores=verdict, test_softmax="passed", test_causal_mask="passed",
                                    test_padding_mask="passed"))
    assert [r.points for r in results if r.test_id == "test_scores"] == [0.0]
    assert sum(r.points for r in results) == 4.5


def test_a_test_without_an_outcome_is_an_error_worth_nothing(tmp_path: Path) -> None:
    rubric = rubric_from(ATTENTION, tmp_path)
    results = {r.test_id: r for r in rubric.score(outcomes(test_scores="passed"))}
    assert (results["test_softmax"].outcome, results["test_softmax"].points) == ("error", 0.0)
    assert results["test_softmax"].message == "this test did not run"
    assert (results["scratch_softmax"].outcome, results["scratch_softmax"].points) == ("skipped", 0.0)


def test_a_broken_rule_deducts_at_most_what_the_part_earned(tmp_path: Path) -> None:
    rubric = rubric_from(RUBRIC, tmp_path, "demo.yaml")
    assert rubric.max_score == 3 and set(rubric.tests) == {"test_a", "test_b"}
    full = rubric.score(outcomes(test_a="passed", test_b="passed", scratch_conv2d="failed"))
    assert sum(t.points for t in full) == 1
    assert [(t.points, t.max_points) for t in full if t.test_id == "scratch_conv2d"] == [(-2, 0)]
    partial = rubric.score(outcomes(test_a="failed", test_b="passed", scratch_conv2d="failed"))
    assert [t.points for t in partial] == [0, 1, -1]  # never below zero for the part
    clean = rubric.score(outcomes(test_a="passed", test_b="passed", scratch_conv2d="passed"))
    assert sum(t.points for t in clean) == 3


def test_a_deduction_in_one_part_never_takes_another_parts_points(tmp_path: Path) -> None:
    rubric = rubric_from(ATTENTION, tmp_path)
    results = rubric.score(outcomes(test_scores="passed", test_softmax="passed", test_causal_mask="failed",
                                    test_padding_mask="passed", scratch_softmax="failed"))
    assert [r.points for r in results if r.test_id == "scratch_softmax"] == [0.0]  # Masks earned nothing
    assert sum(r.points for r in results) == 3.5


def test_not_run_gives_every_test_zero_with_the_reason(tmp_path: Path) -> None:
    rubric = rubric_from(ATTENTION, tmp_path)
    results = rubric.not_run("the kernel died")
    assert [r.test_id for r in results] == ["test_scores", "test_softmax", "test_causal_mask", "test_padding_mask",
                                            "scratch_softmax"]
    assert all(r.points == 0 for r in results)
    assert {(r.outcome, r.message) for r in results} == {("error", "not run: the kernel died"),
                                                         ("skipped", "not checked: the kernel died")}


def test_check_covers_accepts_exactly_the_rubrics_tests(tmp_path: Path) -> None:
    rubric = rubric_from(ATTENTION, tmp_path)
    rubric.check_covers(["test_padding_mask", "test_scores", "test_softmax", "test_causal_mask"],
                        rubric_path=tmp_path / "rubric.yaml", tests_dir=tmp_path / "tests")


def test_check_covers_names_tests_without_points_and_points_without_tests(tmp_path: Path) -> None:
    rubric = rubric_from(ATTENTION, tmp_path)
    with pytest.raises(RubricError) as info:
        rubric.check_covers(["test_scores", "test_softmax", "test_causal_mask", "test_extra"],
                            rubric_path=tmp_path / "rubric.yaml", tests_dir=tmp_path / "tests")
    message = str(info.value)
    assert "test_padding_mask" in message and "test_extra" in message
    assert str(tmp_path / "rubric.yaml") in message  # the instructor learns which file to fix
    assert "scratch_softmax" not in message  # rules are not pytest tests


@pytest.mark.parametrize(("change", "match"), [
    (("{test_a: 2, test_b: 1}", "{test_a: 2, test_b: -1}"), "test_b needs a non-negative number of points"),
    (("{test_a: 2, test_b: 1}", "{test_a: 2, test_b: two}"), "test_b needs a non-negative number of points"),
    (("tests: {test_a: 2, test_b: 1}", "tests: {test_a: 2, test_b: 1, scratch_conv2d: 1}"),
     "scratch_conv2d is listed twice"),
    (("assignment: demo\n", ""), "missing a field: 'assignment'"),
    (("    tests: {test_a: 2, test_b: 1}\n", ""), "missing a field: 'tests'"),
    (("forbid: [torch.nn.functional.conv2d]", "forbid: []"), "within.*forbid"),
    (("        within: [conv2d]\n", ""), "missing a field: 'within'"),
    (("points: 2\n        why", "points: -2\n        why"), "rule scratch_conv2d needs a non-negative number"),
    (("parts:", "parts: [\n"), "cannot read rubric"),
])
def test_a_broken_rubric_is_a_rubric_error_naming_its_file(tmp_path: Path, change: tuple[str, str],
                                                           match: str) -> None:
    old, new = change
    assert old in RUBRIC
    path = tmp_path / "demo.yaml"
    path.write_text(RUBRIC.replace(old, new))
    with pytest.raises(RubricError, match=match) as info:
        load_rubric(path)
    assert str(path) in str(info.value)


def test_a_test_listed_in_two_parts_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(ATTENTION.replace("test_padding_mask: 0", "test_scores: 1"))
    with pytest.raises(RubricError, match="test test_scores is listed twice"):
        load_rubric(path)


def test_tests_given_as_a_list_instead_of_points_is_a_rubric_error(tmp_path: Path) -> None:
    path = tmp_path / "listed.yaml"
    path.write_text(RUBRIC.replace("tests: {test_a: 2, test_b: 1}", "tests: [test_a, test_b]"))
    with pytest.raises(RubricError, match="`tests` must map each test to its points") as info:
        load_rubric(path)
    assert str(path) in str(info.value)


def test_a_missing_rubric_file_is_a_rubric_error(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="cannot read rubric"):
        load_rubric(tmp_path / "nowhere.yaml")


def test_each_result_carries_the_signals_its_check_recorded(tmp_path: Path) -> None:
    from grader.models import Outcome, Signal, SignalKind

    fake = (Signal(SignalKind.FAKE_RESULT, "AlwaysEqual"),)
    rubric = rubric_from(ATTENTION, tmp_path)
    results = {r.test_id: r for r in rubric.score(outcomes(test_scores="failed"), {"test_scores": fake})}
    assert results["test_scores"].signals == fake and results["test_scores"].outcome is Outcome.FAILED
    assert all(r.signals == () for name, r in results.items() if name != "test_scores")


def test_the_weak_suite_keys_default_to_no_minimum_and_warn(tmp_path: Path) -> None:
    from grader.course.rubric import WeakSuitePolicy

    rubric = rubric_from(RUBRIC, tmp_path)
    assert (rubric.min_mutation_score, rubric.on_weak_suite) == (None, WeakSuitePolicy.WARN)
    rubric = rubric_from(RUBRIC + "min_mutation_score: 0.8\non_weak_suite: fail\n", tmp_path)
    assert (rubric.min_mutation_score, rubric.on_weak_suite) == (0.8, WeakSuitePolicy.FAIL)


@pytest.mark.parametrize(("extra", "match"), [
    ("min_mutation_score: 80\n", "min_mutation_score must be a fraction between 0 and 1"),
    ("min_mutation_score: high\n", "min_mutation_score must be a fraction"),
    ("on_weak_suite: stop\n", "on_weak_suite must be one of warn, fail"),
])
def test_weak_suite_keys_out_of_range_are_rubric_errors(tmp_path: Path, extra: str, match: str) -> None:
    with pytest.raises(RubricError, match=match):
        rubric_from(RUBRIC + extra, tmp_path)


PART_LOSS = """
assignment: demo
min_part_loss: 0.5
parts:
  - name: Attention
    main: [scaled_dot_product_attention, MultiHeadAttention]
    tests: {test_a: 3, test_b: 1}
  - name: Masks
    main: causal_mask
    min_part_loss: 0.25
    tests: {test_c: 2}
  - name: Demo
    tests: {test_d: 1}
"""


def test_min_part_loss_and_main_are_read_per_part_with_the_rubrics_bound_as_default(tmp_path: Path) -> None:
    rubric = rubric_from(PART_LOSS, tmp_path)
    attention, masks, demo = rubric.parts
    assert rubric.min_part_loss == 0.5
    assert (attention.main, masks.main, demo.main) == (("scaled_dot_product_attention", "MultiHeadAttention"),
                                                       ("causal_mask",), ())
    assert (attention.min_part_loss, masks.min_part_loss) == (None, 0.25)
    assert [rubric.part_min_loss(part) for part in rubric.parts] == [0.5, 0.25, 0.5]
    assert (attention.points, masks.points) == (4.0, 2.0)


def test_without_the_keys_no_part_has_a_main_function_or_a_bound(tmp_path: Path) -> None:
    rubric = rubric_from(ATTENTION, tmp_path)
    assert rubric.min_part_loss is None
    assert all(part.main == () and rubric.part_min_loss(part) is None for part in rubric.parts)


@pytest.mark.parametrize(("old", "new", "match"), [
    ("min_part_loss: 0.5\n", "min_part_loss: 50\n", r"min_part_loss must be a fraction between 0 and 1 \(0.5: "),
    ("min_part_loss: 0.5\n", "min_part_loss: true\n", "min_part_loss must be a fraction"),
    ("min_part_loss: 0.5\n", "min_part_loss: half\n", "min_part_loss must be a fraction"),
    ("    min_part_loss: 0.25\n", "    min_part_loss: -0.1\n",
     r"part 'Masks': min_part_loss must be a fraction between 0 and 1 .*not -0.1"),
    ("main: causal_mask", "main: 3", r"part 'Masks': `main` must name the part's core function\(s\)"),
    ("main: causal_mask", "main: []", "`main` must name"),
    ("main: causal_mask", "main: [causal mask]", "`main` must name"),
    ("main: causal_mask", "main: {fn: causal_mask}", "`main` must name"),
])
def test_bad_min_part_loss_or_main_is_a_rubric_error(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in PART_LOSS
    with pytest.raises(RubricError, match=match):
        rubric_from(PART_LOSS.replace(old, new, 1), tmp_path)


def test_the_rubric_hash_changes_with_the_new_keys(tmp_path: Path) -> None:
    from grader.course.assignments import hash_files

    path = tmp_path / "rubric.yaml"
    path.write_text(PART_LOSS)
    before = hash_files([path], base=tmp_path)
    path.write_text(PART_LOSS.replace("min_part_loss: 0.5", "min_part_loss: 0.4"))
    assert hash_files([path], base=tmp_path) != before
