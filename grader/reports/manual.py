"""Manual parts on the pages: each written answer's points, the rubric items a TA applied, their comment,
or "awaiting manual grading" while a part is not graded (or its answer changed since)."""

from __future__ import annotations

from grader.models import Grade, ManualResult
from grader.reports.contexts import Detail, ManualRow
from grader.reports.text import clean, points, score, shorten, timestamp

AWAITING = "awaiting manual grading"
UNANSWERED = "no answer handed in: 0 points"
CHANGED = "awaiting manual grading: the answer changed since it was graded"
ANSWER_LIMIT = 20_000  # the whole stored answer (grader.written_answers.MAX_ANSWER)


def manual_rows(grade: Grade, *, with_answers: bool = False) -> tuple[ManualRow, ...]:
    """The grade's manual parts in rubric order; `with_answers` for the staff's pages (the student's text)."""
    return tuple(_row(m, with_answers) for m in grade.manual)


def _row(result: ManualResult, with_answer: bool) -> ManualRow:
    graded = result.grade
    if graded is None:
        status = AWAITING if result.awaiting else UNANSWERED
    else:
        status = CHANGED if result.awaiting else "graded"
    answer = "" if not with_answer else ("(no answer handed in)" if result.answer is None
                                          else shorten(result.answer, ANSWER_LIMIT))
    return ManualRow(
        part=clean(result.part.name),
        points=score(graded.points, result.part.max_points) if graded else f"— / {points(result.part.max_points)}",
        status=status,
        css="status-awaiting" if result.awaiting else "status-graded",
        items=tuple(Detail(name=signed(item.points), value=clean(item.description))
                    for item in (graded.applied if graded else ())),
        adjustment=f"{signed(graded.adjustment)} points" if graded and graded.adjustment else "",
        comment=shorten(graded.comment, 5000) if graded else "",
        graded_by=f"{clean(graded.graded_by)}, {timestamp(graded.graded_at)}" if graded else "",
        answer=answer,
        key=result.part.answer,
    )


def signed(x: float) -> str:
    return f"+{points(x)}" if x >= 0 else f"−{points(-x)}"


def manual_summary(grade: Grade) -> str:
    """One line for a terminal or a CSV cell: each part's points, items and comment, or that it awaits."""
    parts = []
    for result in grade.manual:
        graded = result.grade
        if result.awaiting:
            parts.append(f"{result.part.name}: {CHANGED if graded else AWAITING}")
            continue
        if graded is None:
            parts.append(f"{result.part.name}: {UNANSWERED}")
            continue
        items = "; ".join(i.description for i in graded.applied)
        said = f"{result.part.name}: {points(graded.points)}/{points(result.part.max_points)}"
        said += f" [{items}]" if items else ""
        said += f" (adjustment {signed(graded.adjustment)})" if graded.adjustment else ""
        said += f" “{graded.comment}”" if graded.comment else ""
        parts.append(said)
    return " | ".join(parts)
