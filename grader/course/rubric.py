"""Rubrics: which tests an assignment has, the part each belongs to, and its points."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from grader.course.manual_parts import manual_part
from grader.errors import RubricError, course_file
from grader.models import ManualPart, Outcome, RubricItem, Signal, TestResult

__all__ = ["ManualPart", "Rubric", "RubricItem", "RubricPart", "ScratchRule", "WeakSuitePolicy", "load_rubric"]


class WeakSuitePolicy(StrEnum):
    """What `grade validate` does with a weak hidden suite (rubric `on_weak_suite:`): a mutation
    score under `min_mutation_score`, or no mutants.yaml to check the suite with."""

    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class ScratchRule:
    """A from-scratch rule: these built-ins must not be called inside these functions (grader/checks/from_scratch.py)."""

    rule: str  # shown like a test id
    within: tuple[str, ...]  # the student's functions/classes to inspect
    forbid: tuple[str, ...]  # canonical dotted names, e.g. torch.nn.functional.conv2d
    points: float
    why: str


@dataclass(frozen=True)
class RubricPart:
    name: str
    tests: tuple[tuple[str, float], ...]  # (test function name, points)
    rules: tuple[ScratchRule, ...] = ()  # from-scratch rules: deductions from this part's points
    main: tuple[str, ...] = ()  # `main:` the part's core computation: top-level functions/classes of the notebook
    min_part_loss: float | None = None  # `min_part_loss:` of this part; None: the rubric's

    @property
    def points(self) -> float:
        return sum(points for _, points in self.tests)


@dataclass(frozen=True)
class Rubric:
    assignment: str
    title: str
    notebook: str  # the file name students hand in, e.g. 05_attention_mechanism.ipynb
    parts: tuple[RubricPart, ...]
    kind: str = "notebook"  # the name of its AssignmentKind (grader/kinds.py checks it)
    settings: dict[str, Any] = field(default_factory=dict)  # kind-specific, e.g. the homework's metric thresholds
    min_mutation_score: float | None = None  # the least share of `grade audit`'s mutants the hidden suite must catch
    on_weak_suite: WeakSuitePolicy = WeakSuitePolicy.WARN
    # the least share of a part's points a mistake in its `main` function(s) must cost (grade validate warns)
    min_part_loss: float | None = None
    manual_parts: tuple[ManualPart, ...] = ()  # parts a TA grades by hand (grader/course/manual_parts.py)

    def part_min_loss(self, part: RubricPart) -> float | None:
        """The part's own `min_part_loss`, else the rubric's; None: not checked."""
        return part.min_part_loss if part.min_part_loss is not None else self.min_part_loss

    @property
    def tests(self) -> dict[str, tuple[str, float]]:
        """test name -> (part name, points); pytest tests only, not from-scratch rules"""
        return {test: (part.name, points) for part in self.parts for test, points in part.tests}

    @property
    def rules(self) -> tuple[ScratchRule, ...]:
        return tuple(rule for part in self.parts for rule in part.rules)

    @property
    def max_score(self) -> float:
        """Every part's points: the tests' and the manual parts'."""
        return self.auto_max_score + sum(part.max_points for part in self.manual_parts)

    @property
    def auto_max_score(self) -> float:
        """The points the tests give (what the reference must earn in full; manual parts need a TA)."""
        return sum(points for part in self.parts for _, points in part.tests)

    def check_covers(self, collected: Iterable[str], *, rubric_path: Path, tests_dir: Path) -> None:
        """Every collected test has points and every rubric test exists: no silent zeros.

        Raises RubricError (the instructor's to fix) naming the rubric file and the tests."""
        collected = set(collected)
        listed = set(self.tests)
        rubric, tests = course_file(rubric_path), course_file(tests_dir)
        problems = []
        if listed - collected:
            problems.append(f"{rubric} lists tests that no file under {tests}/ defines: "
                            f"{', '.join(sorted(listed - collected))}; rename each to an existing test "
                            "function or delete it from the rubric")
        if collected - listed:
            problems.append(f"{tests}/ has tests that {rubric} gives no points: "
                            f"{', '.join(sorted(collected - listed))}; add each under a part's `tests:` "
                            "(0 points is allowed) or delete the test")
        if problems:
            raise RubricError("; ".join(problems))

    def score(self, outcomes: Mapping[str, tuple[Outcome, str, float]],
              signals: Mapping[str, tuple[Signal, ...]] | None = None,
              student_messages: Mapping[str, str] | None = None) -> tuple[TestResult, ...]:
        """Turn raw outcomes (test or rule -> (outcome, message, seconds)) into scored results,
        rubric order, each with the signals and the student message its check recorded. A broken
        from-scratch rule is a deduction (negative points, at most what the part earned), so an
        unfilled notebook still scores 0 and the maximum is unchanged."""
        signals = signals or {}
        student_messages = student_messages or {}
        results = []
        for part in self.parts:
            earned = 0.0
            for test, points in part.tests:
                outcome, message, seconds = outcomes.get(test, (Outcome.ERROR, "this test did not run", 0.0))
                got = points if Outcome(outcome) is Outcome.PASSED else 0.0
                earned += got
                results.append(
                    TestResult(test_id=test, part=part.name, outcome=Outcome(outcome), points=got, max_points=points,
                               message=message, duration_s=round(seconds, 4), signals=signals.get(test, ()),
                               student_message=student_messages.get(test))
                )
            for rule in part.rules:
                outcome, message, seconds = outcomes.get(rule.rule, (Outcome.SKIPPED, "not checked", 0.0))
                deduction = min(rule.points, earned) if Outcome(outcome) is Outcome.FAILED else 0.0
                earned -= deduction
                results.append(TestResult(test_id=rule.rule, part=part.name, outcome=Outcome(outcome),
                                          points=-deduction, max_points=0.0, message=message))
        return tuple(results)

    def not_run(self, reason: str) -> tuple[TestResult, ...]:
        return self.score({test: (Outcome.ERROR, f"not run: {reason}", 0.0) for test in self.tests}
                          | {rule.rule: (Outcome.SKIPPED, f"not checked: {reason}", 0.0) for rule in self.rules})


def load_rubric(path: Path) -> Rubric:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise RubricError(f"cannot read rubric {path}: {error}") from error
    try:
        parts = []
        manual_parts = []
        seen: set[str] = set()
        for part in data["parts"]:
            if isinstance(part, dict) and "manual" in part:
                manual_parts.append(manual_part(path, part, manual_parts))
                continue
            tests = []
            if not isinstance(part["tests"], dict):
                raise RubricError(f"rubric {path}: part {part.get('name', '?')!r}: `tests` must map each test to "
                                  "its points, e.g. `tests: {test_scores: 2, test_mask: 1}`")
            for test, points in part["tests"].items():
                if test in seen:
                    raise RubricError(f"rubric {path}: test {test} is listed twice")
                if not isinstance(points, (int, float)) or points < 0:
                    raise RubricError(f"rubric {path}: test {test} needs a non-negative number of points")
                seen.add(test)
                tests.append((str(test), float(points)))
            rules = tuple(_rule(path, entry, seen) for entry in part.get("from_scratch") or ())
            parts.append(RubricPart(name=str(part["name"]), tests=tuple(tests), rules=rules,
                                    main=_main(path, part), min_part_loss=_fraction(
                                        path, part.get("min_part_loss"), f"part {part['name']!r}: min_part_loss",
                                        MIN_PART_LOSS_EXAMPLE)))
        return Rubric(assignment=str(data["assignment"]), title=str(data.get("title", data["assignment"])),
                      notebook=str(data.get("notebook", f"{data['assignment']}.ipynb")), parts=tuple(parts),
                      kind=str(data.get("kind", "notebook")), settings=dict(data.get("settings") or {}),
                      min_mutation_score=_fraction(path, data.get("min_mutation_score"), "min_mutation_score",
                                                   "0.8: the hidden tests catch 80% of the mutants"),
                      on_weak_suite=_policy(path, data.get("on_weak_suite", WeakSuitePolicy.WARN.value)),
                      min_part_loss=_fraction(path, data.get("min_part_loss"), "min_part_loss",
                                              MIN_PART_LOSS_EXAMPLE), manual_parts=tuple(manual_parts))
    except (KeyError, TypeError) as error:
        raise RubricError(f"rubric {path} is missing a field: {error}") from error


MIN_PART_LOSS_EXAMPLE = "0.5: a mistake in a part's main function costs at least half of the part's points"


def _fraction(path: Path, value: Any, key: str, example: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise RubricError(f"rubric {path}: {key} must be a fraction between 0 and 1 ({example}), not {value!r}")
    return float(value)


def _main(path: Path, part: dict[str, Any]) -> tuple[str, ...]:
    """A part's `main:`: one name or a list of names of the notebook's top-level functions or classes."""
    value = part.get("main")
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise RubricError(f"rubric {path}: part {part.get('name', '?')!r}: `main` must name the part's core "
                          "function(s) or class(es) as defined at the top level of the notebook, e.g. "
                          f"`main: [scaled_dot_product_attention]`, not {value!r}")
    return tuple(dict.fromkeys(names))


def _policy(path: Path, value: Any) -> WeakSuitePolicy:
    try:
        return WeakSuitePolicy(value)
    except ValueError:
        raise RubricError(f"rubric {path}: on_weak_suite must be one of "
                          f"{', '.join(p.value for p in WeakSuitePolicy)}, not {value!r}") from None


def _rule(path: Path, entry: dict[str, Any], seen: set[str]) -> ScratchRule:
    name = str(entry["rule"])
    if name in seen:
        raise RubricError(f"rubric {path}: {name} is listed twice")
    seen.add(name)
    points = entry.get("points", 0)
    if not isinstance(points, (int, float)) or points < 0:
        raise RubricError(f"rubric {path}: rule {name} needs a non-negative number of points")
    within, forbid = entry["within"], entry["forbid"]
    if not within or not forbid:
        raise RubricError(f"rubric {path}: rule {name} needs `within` and `forbid` lists")
    return ScratchRule(rule=name, within=tuple(map(str, within)), forbid=tuple(map(str, forbid)),
                       points=float(points), why=str(entry.get("why", f"{name}: write it from scratch")))
