"""Does a wrong core computation cost enough of its part? The rubric's `min_part_loss` checked.

A rubric part may name its main function(s) (`main: [scaled_dot_product_attention]`, the
top-level functions or classes of the notebook that compute what the part asks for), and the
rubric, or the part, a `min_part_loss` (0.5: a mistake there costs at least half of the
part's points). Two kinds of mistakes are weighed against it:

- every mutant of mutants.yaml whose `find` begins inside a part's main function: it loses
  the points of the tests (and from-scratch rules) in its `fails:` that belong to that part;
- every mutant the last `grade audit` caught in a main function, when the record is current
  (its hashes match the tests, reference and rubric): it loses what its grade lost in that
  part (a stale record is skipped here; strength.py says when it must be current).

Each mutant losing less is one line, a warning or, with `on_weak_suite: fail`, a problem, as
for the mutation score: both say the hidden suite grades a mistake too lightly.
"""

from __future__ import annotations

import nbformat

from grader.course.assignments import Assignment
from grader.course.mutants import defined_names, edit_scope
from grader.course.rubric import RubricPart
from grader.validate.findings import Finding, Severity, weak_suite
from grader.validate.strength import HASHES, CaughtMutant, Mutants, audit_record_path, read_audit


def part_loss_findings(assignment: Assignment, mutants: Mutants) -> list[Finding]:
    """One finding per mutant of a part's main function that loses under the part's `min_part_loss`."""
    rubric = assignment.rubric
    name, severity = assignment.name, weak_suite(rubric.on_weak_suite)
    bounded = [(part, bound) for part in rubric.parts if part.main
               and (bound := rubric.part_min_loss(part)) is not None]
    if not bounded:
        if rubric.min_part_loss is not None and not any(part.main for part in rubric.parts):
            return [Finding(name, Severity.WARNING, "the rubric sets min_part_loss but no part names its main "
                            "function(s): add `main: [function]` to the parts it is for", assignment.rubric_path)]
        return []
    reference = nbformat.read(assignment.reference_notebook, as_version=4)
    defined = defined_names(reference)
    found = [Finding(name, Severity.PROBLEM, f"part {part.name!r} names main {missing!r}, which the reference "
                     "notebook does not define at the top level of a code cell: name a function or class it defines",
                     assignment.rubric_path)
             for part in rubric.parts for missing in part.main if missing not in defined]

    def check(mutant: str, scope: str, lost_in: dict[str, float]) -> None:
        for part, bound in bounded:
            if scope not in part.main or not part.points:
                continue
            lost = lost_in.get(part.name, 0.0)
            if lost + 1e-9 < bound * part.points:
                found.append(Finding(name, severity, f"mutant {mutant} of {scope} loses {lost:g}/{part.points:g} "
                                     f"points of part {part.name!r} ({lost / part.points:.0%}), under min_part_loss "
                                     f"{bound:.0%}: weigh the tests that catch it more, or add one",
                                     assignment.rubric_path))

    for edit in mutants.usable:
        if edit.fails:
            check(edit.name, edit_scope(reference, edit), _lost_by_part(rubric.parts, edit.fails))
    record = read_audit(audit_record_path(assignment.course_root, name))
    if record is not None and all(record.hashes.get(key) == assignment.hashes[key] for key in HASHES):
        for caught in record.caught:
            check(f"{caught.id} ({caught.label}, grade audit)", caught.scope, _audit_losses(rubric.parts, caught))
    return found


def _lost_by_part(parts: tuple[RubricPart, ...], failed: tuple[str, ...]) -> dict[str, float]:
    """part -> the points of the failed tests and rules it holds."""
    lost: dict[str, float] = {}
    for part in parts:
        points = dict(part.tests) | {rule.rule: rule.points for rule in part.rules}
        lost[part.name] = sum(points[test] for test in set(failed) if test in points)
    return lost


def _audit_losses(parts: tuple[RubricPart, ...], caught: CaughtMutant) -> dict[str, float]:
    if caught.part_losses is not None:
        return caught.part_losses
    # A record written before part_losses: its failed tests' points (a rule's deduction is not known there).
    tests = {test for part in parts for test, _ in part.tests}
    return _lost_by_part(parts, tuple(t for t in caught.failed_tests if t in tests))
