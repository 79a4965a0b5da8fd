"""What `grade validate` finds: a problem (exit 1) or a warning, each naming its assignment and file."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from grader.course.rubric import WeakSuitePolicy
from grader.errors import course_file


class Severity(StrEnum):
    PROBLEM = "problem"  # the course is not ready: `grade validate` exits 1
    WARNING = "warning"  # worth a look; the exit code stays 0


@dataclass(frozen=True)
class Finding:
    assignment: str  # or "course" for the course as a whole
    severity: Severity
    message: str  # what is wrong and what to do about it
    file: Path | None = None  # the file to fix, when one is to blame

    def line(self) -> str:
        where = f" ({course_file(self.file)})" if self.file is not None else ""
        label = "" if self.severity is Severity.PROBLEM else f"{self.severity.value}: "
        return f"{self.assignment}: {label}{self.message}{where}"


def weak_suite(policy: WeakSuitePolicy) -> Severity:
    """A weak hidden suite is a warning, or a problem when the rubric says `on_weak_suite: fail`."""
    return Severity.PROBLEM if policy is WeakSuitePolicy.FAIL else Severity.WARNING


@dataclass(frozen=True)
class AssignmentResult:
    name: str
    findings: tuple[Finding, ...]
    summary: str  # what was checked, for the ok line, e.g. "reference 20/20, released 0/20, 18 mutants caught"

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.PROBLEM)


@dataclass(frozen=True)
class ValidationReport:
    course: tuple[Finding, ...]  # about the course as a whole (no course.yaml, ...)
    assignments: tuple[AssignmentResult, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.PROBLEM for f in self.course) and not any(
            a.problems for a in self.assignments)
