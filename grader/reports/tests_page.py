"""One page per test: who passed, and who failed grouped by the failure message."""

from __future__ import annotations

from collections.abc import Sequence

from grader.models import Grade, Outcome
from grader.reports.contexts import FailureGroup, StudentLink, TestPageContext
from grader.reports.text import anchor, clean, outcome_css, percent, points, score, shorten, student_page

STYLESHEET = "../static/style.css"


def test_keys(grades: Sequence[Grade]) -> list[tuple[str, str]]:
    """Every (assignment, test_id) that ran, in a stable order."""
    return sorted({(g.assignment, t.test_id) for g in grades for t in g.tests})


def test_context(
    assignment: str, test_id: str, grades: Sequence[Grade], *, title: str, generated_at: str
) -> TestPageContext:
    found = []  # (student, TestResult)
    for grade in grades:
        if grade.assignment == assignment:
            for test in grade.tests:
                if test.test_id == test_id:
                    found.append((grade.student, test))
    found.sort(key=lambda item: (item[0].casefold(), item[0]))

    def link(student: str, test) -> StudentLink:  # type: ignore[no-untyped-def]
        return StudentLink(
            student=clean(student),
            href=f"../{student_page(student)}#{anchor(assignment)}",
            outcome=test.outcome.value,
            css=outcome_css(test.outcome),
            points=score(test.points, test.max_points),
        )

    groups: dict[str, list[StudentLink]] = {}
    for student, test in found:
        if test.outcome is not Outcome.PASSED:
            groups.setdefault(shorten(test.message) or "(no message)", []).append(link(student, test))
    passed = tuple(link(s, t) for s, t in found if t.outcome is Outcome.PASSED)
    part = next((t.part for _, t in found), "")
    max_points = max((t.max_points for _, t in found), default=0.0)
    return TestPageContext(
        page_title=f"{clean(test_id)} · {clean(assignment)} · {clean(title)}",
        stylesheet=STYLESHEET,
        generated_at=generated_at,
        report_title=clean(title),
        index_href="../index.html",
        assignment=clean(assignment),
        test_id=clean(test_id),
        part=clean(part),
        max_points=points(max_points),
        passed=len(passed),
        total=len(found),
        percent=percent(len(passed), len(found)),
        # The message most students tripped on first: that is the one worth explaining in class.
        groups=tuple(
            FailureGroup(message=message, count=len(links), students=tuple(links))
            for message, links in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ),
        passed_students=passed,
    )
