"""How strong an assignment's hidden suite is known to be: its mutants.yaml, and the last `grade audit`.

`grade audit` (grader/audit/) writes its result to <course root>/.grade/audit/<assignment>.json:
the mutation score (the share of generated mutants the hidden tests caught) and the hashes of
the tests, reference and rubric it measured. When the rubric sets `min_mutation_score`, that
record must exist, match the assignment as it is now (Assignment.hashes), and reach the
minimum. A weak suite, and a notebook assignment without mutants to check its tests with, is
a warning, or a problem when the rubric says `on_weak_suite: fail`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from grader.course.assignments import Assignment
from grader.course.mutants import Edit, MutantSpec, apply_edit, load_mutants, mutants_path
from grader.errors import InstructorError
from grader.validate.findings import Finding, Severity, weak_suite

AUDIT_DIR = Path(".grade") / "audit"
HASHES = ("tests_hash", "reference_hash", "rubric_hash")
ENTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # it becomes a student folder's name


@dataclass(frozen=True)
class CaughtMutant:
    """A mutant the audit caught, as its record holds it."""

    id: str
    label: str  # "operator: description"
    scope: str  # the top-level function or class it edits ("" at cell level)
    failed_tests: tuple[str, ...]
    part_losses: dict[str, float] | None  # part -> points lost there; None in a record written before it had them


@dataclass(frozen=True)
class AuditRecord:
    """The part of `grade audit`'s record that validate reads."""

    path: Path
    mutation_score: float  # 0..1
    hashes: dict[str, str]  # tests_hash, reference_hash, rubric_hash as the audit saw them
    survivors: int
    caught: tuple[CaughtMutant, ...] = ()


def audit_record_path(course_root: Path, assignment: str) -> Path:
    return course_root / AUDIT_DIR / f"{assignment}.json"


def read_audit(path: Path) -> AuditRecord | None:
    """The record at `path`, or None when there is none or it cannot be read as one."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        score = float(data["mutation_score"])
        hashes = {key: str(data[key]) for key in HASHES}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    survivors = data.get("survivors")
    return AuditRecord(path=path, mutation_score=score, hashes=hashes,
                       survivors=len(survivors) if isinstance(survivors, list) else 0,
                       caught=_caught(data.get("caught_mutants")))


def _caught(entries: Any) -> tuple[CaughtMutant, ...]:
    """The record's caught mutants; an entry that cannot be read as one is left out."""
    found = []
    for entry in entries if isinstance(entries, list) else ():
        try:
            losses = entry.get("part_losses")
            found.append(CaughtMutant(
                id=str(entry["id"]), label=f"{entry.get('operator', '?')}: {entry.get('description', '')}",
                scope=str(entry.get("scope") or ""), failed_tests=tuple(map(str, entry.get("failed_tests") or ())),
                part_losses=None if losses is None else {str(p["part"]): float(p["lost"]) for p in losses}))
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
    return tuple(found)


@dataclass(frozen=True)
class Mutants:
    """An assignment's mutants.yaml as validate reads it: the entries that can be graded, and the rest's findings."""

    spec: MutantSpec | None  # None when missing or unreadable
    usable: tuple[Edit, ...]  # entries whose edit applies and whose `fails:` the rubric knows
    findings: tuple[Finding, ...]


def load_spec(assignment: Assignment) -> Mutants:
    """Read the assignment's mutants.yaml and check each entry without grading it."""
    path = mutants_path(assignment.root)
    name, severity = assignment.name, weak_suite(assignment.rubric.on_weak_suite)
    if not path.is_file():
        return Mutants(None, (), (Finding(name, severity, "no mutants.yaml: nothing shows that the hidden tests "
                                          "catch the mistakes they are for; write one (grade new writes an "
                                          "example)", path),))
    try:
        spec = load_mutants(path)
    except InstructorError as error:
        return Mutants(None, (), (Finding(name, Severity.PROBLEM, str(error).split(": ", 1)[-1], path),))
    found = [] if spec.mutants else [Finding(name, severity, "mutants.yaml lists no mutants: nothing shows that "
                                             "the hidden tests catch the mistakes they are for", path)]
    reference = nbformat.read(assignment.reference_notebook, as_version=4)
    known = set(assignment.rubric.tests) | {rule.rule for rule in assignment.rubric.rules}
    usable = []
    for edit in spec.entries:
        unknown = sorted(set(edit.fails) - known)
        if not ENTRY_NAME.fullmatch(edit.name):
            found.append(Finding(name, Severity.PROBLEM, f"entry name {edit.name!r}: use letters, digits, _ . -", path))
        elif unknown:
            found.append(Finding(name, Severity.PROBLEM, f"mutant {edit.name} lists {', '.join(unknown)} under "
                                 "`fails:`, which the rubric does not have", path))
        else:
            try:
                apply_edit(reference, edit, str(path))
            except InstructorError as error:
                found.append(Finding(name, Severity.PROBLEM, str(error).split(": ", 1)[-1], path))
            else:
                usable.append(edit)
    return Mutants(spec, tuple(usable), tuple(found))


def audit_findings(assignment: Assignment) -> tuple[list[Finding], str]:
    """What the last `grade audit` says about the suite, when the rubric sets a minimum; and a summary."""
    minimum = assignment.rubric.min_mutation_score
    if minimum is None:
        return [], ""
    name, severity = assignment.name, weak_suite(assignment.rubric.on_weak_suite)
    path = audit_record_path(assignment.course_root, name)
    record = read_audit(path)
    if record is None or any(record.hashes.get(key) != assignment.hashes[key] for key in HASHES):
        why = "none recorded" if record is None else "the tests, reference or rubric changed since"
        return [Finding(name, severity, f"no current audit ({why}): run grade audit {name}", path)], ""
    summary = f"mutation score {record.mutation_score:.0%} (minimum {minimum:.0%})"
    if record.mutation_score + 1e-9 < minimum:
        return [Finding(name, severity, f"the hidden tests catch {record.mutation_score:.0%} of grade audit's "
                        f"mutants, under the rubric's min_mutation_score {minimum:.0%}; {record.survivors} survived "
                        f"(listed in the record): add tests that catch them", assignment.rubric_path)], summary
    return [], summary
