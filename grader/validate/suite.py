"""The rubric against the tests, every disagreement at once; then the kind's own pre-flight.

The pre-flight a class runs (grader/pipeline/preflight.py) stops at the first mistake; here
each one is a line of its own, so the instructor fixes them in one pass: a test file that
does not import, a test the rubric gives no points, a rubric test no file defines, a test
name defined twice, points that cannot add up (a rubric worth nothing, a part with no tests,
a from-scratch rule that costs more than its part is worth). The kind's check_course then
runs the suites with the reference standing in for a student (notebooks) or reads the
settings and data (models).
"""

from __future__ import annotations

from collections import Counter

from grader.course.assignments import Assignment, Course
from grader.errors import InstructorError
from grader.pipeline.preflight import check_course
from grader.validate.findings import Finding, Severity


def rubric_findings(assignment: Assignment) -> list[Finding]:
    """Disagreements between the rubric and the test files (for kinds graded by pytest suites)."""
    from grader.checks.runner import collect_tests  # pytest: only when there is work

    name, rubric_path = assignment.name, assignment.rubric_path
    found = [Finding(name, Severity.PROBLEM, "no points in the rubric: it lists no tests", rubric_path)] \
        if assignment.rubric.auto_max_score <= 0 else []
    found += written_cell_findings(assignment)
    for part in assignment.rubric.parts:
        if not part.tests:
            found.append(Finding(name, Severity.PROBLEM, f"part {part.name!r} lists no tests", rubric_path))
        worth = sum(points for _, points in part.tests)
        for rule in part.rules:
            if rule.points > worth:
                found.append(Finding(name, Severity.PROBLEM,
                                     f"rule {rule.rule} deducts {rule.points:g} points from part {part.name!r}, "
                                     f"which is worth {worth:g}; lower the rule's points", rubric_path))
    files = assignment.test_files()
    if not files:
        return [*found, Finding(name, Severity.PROBLEM, "no test files (tests/public/test_*.py, "
                                "tests/hidden/test_*.py)", assignment.tests_root)]
    plugin = collect_tests(files, rootdir=assignment.root)
    for error in plugin.collection_errors:
        found.append(Finding(name, Severity.PROBLEM, f"the test file does not import: {error.error}",
                             assignment.root / error.path))
    if plugin.collection_errors:
        return found  # the rubric cannot be compared with a suite that did not load
    for test, count in sorted(Counter(plugin.collected).items()):
        if count > 1:
            found.append(Finding(name, Severity.PROBLEM, f"test {test} is defined {count} times; rename all but "
                                 "one (the rubric gives points by name)", assignment.tests_root))
    collected = set(plugin.collected)
    for test in sorted(set(assignment.rubric.tests) - collected):
        found.append(Finding(name, Severity.PROBLEM, f"the rubric lists {test}, which no test file defines; "
                             "rename it to an existing test or delete it", rubric_path))
    for test in sorted(collected - set(assignment.rubric.tests)):
        found.append(Finding(name, Severity.PROBLEM, f"test {test} has no points in the rubric; add it under a "
                             "part's `tests:` (0 points is allowed) or delete it",
                             assignment.root / plugin.files.get(test, "tests")))
    return found


def preflight_findings(course: Course, assignment: Assignment) -> list[Finding]:
    """The pre-flight `grade` runs before grading a class (the reference against its own tests, or
    the model kind's settings and held-out data): its finding, if any."""
    try:
        check_course(course, [assignment.name])
    except InstructorError as error:
        return [Finding(assignment.name, Severity.PROBLEM, " ".join(str(error).split()))]
    return []


def written_cell_findings(assignment: Assignment) -> list[Finding]:
    """Each manual part of a notebook names a written-answer cell the reference has (and so the release):
    a part whose cell is missing would read no student's answer."""
    import json

    from grader.written_answers import written_ids

    if not assignment.rubric.manual_parts:
        return []
    try:
        ids = written_ids(json.loads(assignment.reference_notebook.read_text("utf-8")))
    except (OSError, ValueError):
        return []  # the pre-flight says what is wrong with the notebook itself
    return [Finding(assignment.name, Severity.PROBLEM,
                    f"manual part {part.name!r} grades written answer {part.answer!r}, but the reference has no "
                    f"markdown cell with metadata {{\"grade\": {{\"written\": \"{part.answer}\"}}}}; add it "
                    f"(the release keeps it for the students' answer) or fix `answer:`"
                    + (f" (its written answers: {', '.join(sorted(ids))})" if ids else ""),
                    assignment.reference_notebook)
            for part in assignment.rubric.manual_parts if part.answer not in ids]
