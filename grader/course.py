"""The course on disk: assignments, their reference notebooks, test suites and rubrics."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from grader.errors import GradeError
from grader.rubric import Rubric, load_rubric


@dataclass(frozen=True)
class Assignment:
    """One notebook of the course; everything here is trusted and never enters a sandbox."""

    name: str
    root: Path  # reference/<name>/
    rubric_path: Path
    rubric: Rubric

    @property
    def notebook(self) -> str:
        return self.rubric.notebook

    @property
    def reference_notebook(self) -> Path:
        return self.root / self.rubric.notebook

    @property
    def public_tests(self) -> Path:
        return self.root / "tests" / "public"

    @property
    def hidden_tests(self) -> Path:
        return self.root / "tests" / "hidden"

    def test_files(self) -> list[Path]:
        return sorted(self.public_tests.glob("test_*.py")) + sorted(self.hidden_tests.glob("test_*.py"))

    @cached_property
    def hashes(self) -> dict[str, str]:
        """Content hashes of what a grade depends on, besides the submission itself."""
        tests = sorted(p for p in (self.root / "tests").rglob("*.py"))
        tests_hash = hash_files(tests, base=self.root)
        if self.rubric.kind == "model":  # the homework's hidden test is its held-out split
            from grader.homework.data import heldout_fingerprint

            tests_hash = hashlib.sha256(f"{tests_hash}:{heldout_fingerprint(self)}".encode()).hexdigest()
        return {
            "tests_hash": tests_hash,
            "reference_hash": hash_files([self.reference_notebook], base=self.root),
            "rubric_hash": hash_files([self.rubric_path], base=self.rubric_path.parent),
        }


@dataclass(frozen=True)
class Course:
    root: Path
    assignments: dict[str, Assignment]

    def by_notebook(self) -> dict[str, Assignment]:
        return {a.notebook: a for a in self.assignments.values()}


def load_course(root: Path) -> Course:
    """Read rubrics/*.yaml and the matching reference/<assignment>/ folders."""
    root = root.resolve()
    rubric_dir = root / "rubrics"
    if not rubric_dir.is_dir():
        raise GradeError(
            f"no rubrics/ folder in {root}: run grade from the course repository, or pass --course DIR"
        )
    assignments = {}
    for rubric_path in sorted(rubric_dir.glob("*.yaml")):
        rubric = load_rubric(rubric_path)
        folder = root / "reference" / rubric.assignment
        if not (folder / rubric.notebook).is_file():
            raise GradeError(f"rubric {rubric_path.name} names {rubric.notebook}, not found in {folder}")
        assignments[rubric.assignment] = Assignment(rubric.assignment, folder, rubric_path, rubric)
    if not assignments:
        raise GradeError(f"no rubrics in {rubric_dir}")
    return Course(root=root, assignments=assignments)


def hash_files(paths: list[Path], *, base: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(base)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
