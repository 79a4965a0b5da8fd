"""Rubrics: which tests an assignment has, the part each belongs to, and its points."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from grader.errors import RubricError
from grader.models import TestResult


@dataclass(frozen=True)
class RubricPart:
    name: str
    tests: tuple[tuple[str, float], ...]  # (test function name, points)


@dataclass(frozen=True)
class Rubric:
    assignment: str
    title: str
    notebook: str  # the file name students hand in, e.g. 05_attention_mechanism.ipynb
    parts: tuple[RubricPart, ...]
    kind: str = "notebook"  # notebook: run it and the tests; model: score a saved model (the homework)
    settings: dict[str, Any] = field(default_factory=dict)  # kind-specific, e.g. the homework's metric thresholds

    @property
    def tests(self) -> dict[str, tuple[str, float]]:
        """test name -> (part name, points)"""
        return {test: (part.name, points) for part in self.parts for test, points in part.tests}

    @property
    def max_score(self) -> float:
        return sum(points for part in self.parts for _, points in part.tests)

    def check_covers(self, collected: Iterable[str]) -> None:
        """Every collected test has points and every rubric test exists: no silent zeros."""
        collected = set(collected)
        listed = set(self.tests)
        problems = []
        if collected - listed:
            problems.append(f"tests without points in the rubric: {', '.join(sorted(collected - listed))}")
        if listed - collected:
            problems.append(f"rubric tests that do not exist: {', '.join(sorted(listed - collected))}")
        if problems:
            raise RubricError(f"rubric {self.assignment}: " + "; ".join(problems))

    def score(self, outcomes: Mapping[str, tuple[str, str, float]]) -> tuple[TestResult, ...]:
        """Turn raw outcomes (test -> (outcome, message, seconds)) into scored results, rubric order."""
        results = []
        for part in self.parts:
            for test, points in part.tests:
                outcome, message, seconds = outcomes.get(test, ("error", "this test did not run", 0.0))
                results.append(
                    TestResult(test_id=test, part=part.name, outcome=outcome,
                               points=points if outcome == "passed" else 0.0, max_points=points,
                               message=message, duration_s=round(seconds, 4))
                )
        return tuple(results)

    def not_run(self, reason: str) -> tuple[TestResult, ...]:
        return self.score({test: ("error", f"not run: {reason}", 0.0) for test in self.tests})


def load_rubric(path: Path) -> Rubric:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise RubricError(f"cannot read rubric {path}: {error}") from error
    try:
        parts = []
        seen: set[str] = set()
        for part in data["parts"]:
            tests = []
            for test, points in dict(part["tests"]).items():
                if test in seen:
                    raise RubricError(f"rubric {path}: test {test} is listed twice")
                if not isinstance(points, (int, float)) or points < 0:
                    raise RubricError(f"rubric {path}: test {test} needs a non-negative number of points")
                seen.add(test)
                tests.append((str(test), float(points)))
            parts.append(RubricPart(name=str(part["name"]), tests=tuple(tests)))
        return Rubric(assignment=str(data["assignment"]), title=str(data.get("title", data["assignment"])),
                      notebook=str(data.get("notebook", f"{data['assignment']}.ipynb")), parts=tuple(parts),
                      kind=_kind(path, data.get("kind", "notebook")), settings=dict(data.get("settings") or {}))
    except (KeyError, TypeError) as error:
        raise RubricError(f"rubric {path} is missing a field: {error}") from error


KINDS = ("notebook", "model")


def _kind(path: Path, kind: object) -> str:
    if kind not in KINDS:
        raise RubricError(f"rubric {path}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return str(kind)
