"""Frozen values that flow between the pipeline stages, serialised to JSON in one place.

discover -> Submission; execute -> Execution; check -> TestResult; the pipeline -> Grade.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class Status(StrEnum):
    """What happened to one (student, assignment)."""

    GRADED = "graded"  # the notebook ran (maybe with cell errors) and the tests ran
    ERROR = "error"  # the kernel died, or a resource limit was hit: the student's fault, with a message
    TIMEOUT = "timeout"  # the notebook ran past its wall-clock limit
    REJECTED = "rejected"  # the submission could not be opened safely (bad JSON, symlink, zip bomb...)
    MISSING = "missing"  # the student handed in no file for this assignment


class SubmissionKind(StrEnum):
    NOTEBOOK = "notebook"
    PACKAGE = "package"  # Python modules instead of a notebook
    MODEL_FOLDER = "model folder"  # a saved model (the homework): config, safetensors weights, tokenizer


@dataclass(frozen=True)
class StudentFolder:
    """One student's hand-in as discovery finds it: a folder or a zip, named for the student."""

    student: str
    path: Path  # a folder, or a zip file
    problem: str = ""  # non-empty when the whole hand-in must be rejected (a symlink out, a zip bomb...)


@dataclass(frozen=True)
class Submission:
    """One student's work for one assignment, as found on disk (before anything ran)."""

    student: str
    assignment: str
    kind: SubmissionKind
    source: Path  # the notebook, the package folder, or the zip it came from
    content_hash: str  # sha256 over the submitted files' names and bytes
    problem: str = ""  # non-empty when discovery already knows it must be rejected


@dataclass(frozen=True)
class CellError:
    """An exception a student cell raised, by its 1-based number among code cells."""

    cell: int
    ename: str
    evalue: str


@dataclass(frozen=True)
class Execution:
    """What running the student's code in the sandbox produced."""

    status: Status
    message: str = ""
    cell_errors: tuple[CellError, ...] = ()
    output_excerpt: str = ""  # student stdout/stderr, truncated; never trusted, always escaped
    duration_s: float = 0.0
    sandboxed: bool = True


@dataclass(frozen=True)
class TestResult:
    """One test's verdict, computed in the trusted process."""

    test_id: str  # the rubric key: the test function's name
    part: str  # the rubric part it belongs to, e.g. "Multi-head attention"
    outcome: str  # passed | failed | error | skipped
    points: float
    max_points: float
    message: str = ""
    duration_s: float = 0.0


@dataclass(frozen=True)
class Fingerprint:
    """What a grade was computed against, so it can be explained, reproduced, and reused."""

    submission_hash: str
    tests_hash: str
    reference_hash: str
    rubric_hash: str
    grader_version: str


@dataclass(frozen=True)
class Grade:
    """The final result for one (student, assignment)."""

    student: str
    assignment: str
    status: Status
    score: float
    max_score: float
    message: str
    fingerprint: Fingerprint
    tests: tuple[TestResult, ...] = ()
    execution: Execution | None = None
    duration_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # stage-specific data, e.g. homework metrics

    def to_json(self) -> str:
        return json.dumps(grade_to_dict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> "Grade":
        return grade_from_dict(json.loads(text))


def grade_to_dict(grade: Grade) -> dict[str, Any]:
    data = asdict(grade)
    return json.loads(json.dumps(data, default=str))


def grade_from_dict(data: dict[str, Any]) -> Grade:
    execution = data.get("execution")
    return Grade(
        student=data["student"],
        assignment=data["assignment"],
        status=Status(data["status"]),
        score=float(data["score"]),
        max_score=float(data["max_score"]),
        message=data["message"],
        fingerprint=Fingerprint(**data["fingerprint"]),
        tests=tuple(TestResult(**t) for t in data.get("tests", ())),
        execution=None
        if execution is None
        else Execution(
            status=Status(execution["status"]),
            message=execution["message"],
            cell_errors=tuple(CellError(**c) for c in execution["cell_errors"]),
            output_excerpt=execution["output_excerpt"],
            duration_s=execution["duration_s"],
            sandboxed=execution["sandboxed"],
        ),
        duration_s=float(data.get("duration_s", 0.0)),
        extra=dict(data.get("extra", {})),
    )
