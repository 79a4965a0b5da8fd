"""An assignment's suites against its own reference, in the trusted process, before a class is graded.

Three mistakes of the instructor's would otherwise reach every student as a failed test or
as "the grader failed": a test file that does not import, a rubric that does not list
exactly the collected tests, a reference that fails its own tests or from-scratch rules.
The cheap checks come first (collection, the rubric, the reference's cells); then the
suites run once with the reference standing in for a student: every code cell executed,
as a student's kernel runs it, reached through the bridge's protocol in this process. The
first finding raises InstructorError naming the file and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import nbformat

from grader.checks.from_scratch import rule_outcomes
from grader.checks.runner import collect_tests, raise_for_collection, run_checks
from grader.course.reference import load_reference, reference_as_submission
from grader.errors import InstructorError, course_file
from grader.kernel.bridge import in_process_namespace
from grader.models import Outcome

if TYPE_CHECKING:
    from grader.course.assignments import Assignment

SHOWN = 3  # failing tests named in the message; the rest are counted


def check_suites(assignment: Assignment) -> None:
    """Raise InstructorError unless the tests collect, the rubric covers them exactly, and the
    reference passes every test and from-scratch rule."""
    rubric = assignment.rubric
    collected = collect_tests(assignment.test_files(), rootdir=assignment.root)
    raise_for_collection(collected, assignment.root)
    rubric.check_covers(collected.collected, rubric_path=assignment.rubric_path, tests_dir=assignment.tests_root)
    notebook = assignment.reference_notebook
    reference = load_reference(notebook)
    rules = rule_outcomes(rubric.rules, nbformat.read(notebook, as_version=4))
    broken = {rule: message for rule, (outcome, message, _) in rules.items() if outcome == Outcome.FAILED}
    if broken:
        rule, message = next(iter(broken.items()))
        raise InstructorError(f"the reference notebook {course_file(notebook)} breaks the from-scratch rule {rule} "
                              f"of {course_file(assignment.rubric_path)} ({message}); fix the rule's `within:` or "
                              "`forbid:`, or the reference")
    if not collected.collected:
        return
    stand_in = reference_as_submission(notebook)
    plugin = run_checks(assignment.test_files(), student=in_process_namespace(stand_in.__dict__),
                        reference=reference, rootdir=assignment.root)
    raise_for_collection(plugin, assignment.root)
    failing = [(test, message) for test, (outcome, message, _) in plugin.outcomes.items()
               if outcome in (Outcome.FAILED, Outcome.ERROR)]
    if failing:
        lines = [f"  {test} ({course_file(assignment.root / plugin.files.get(test, ''))}): "
                 f"{' '.join(message.split())[:300]}" for test, message in failing[:SHOWN]]
        if len(failing) > SHOWN:
            lines.append(f"  and {len(failing) - SHOWN} more: {', '.join(test for test, _ in failing[SHOWN:])}")
        raise InstructorError(f"the reference notebook {course_file(notebook)} fails its own tests, so every "
                              "student would lose these points; fix the reference or the tests:\n"
                              + "\n".join(lines))
