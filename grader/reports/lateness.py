"""A grade's lateness in words, the same on the staff's pages and in the students' feedback."""

from __future__ import annotations

from grader.models import Grade
from grader.reports.contexts import Detail
from grader.reports.text import points, score, shorten, timestamp


def late_details(grade: Grade) -> tuple[Detail, ...]:
    """Due time, submission time and, when the policy took points, raw score, penalty and final score."""
    late = grade.late
    if late is None:
        return ()
    rows = [Detail(name="due", value=timestamp(late.due_at) + (" (extension)" if late.extended else "")),
            Detail(name="handed in", value="unknown (no trusted submission time)" if late.submitted_at is None
                   else timestamp(late.submitted_at))]
    if late.days_late:
        rows.append(Detail(name="days late", value=str(late.days_late)))
    if late.penalty_percent:
        rows += [Detail(name="raw score", value=score(grade.score, grade.max_score)),
                 Detail(name="late penalty", value=f"−{points(grade.late_penalty)} ({late.penalty_percent:g}%)"),
                 Detail(name="final score", value=score(grade.final_score, grade.max_score))]
    if late.message:
        rows.append(Detail(name="late policy", value=shorten(late.message)))
    return tuple(rows)


def late_note(grade: Grade) -> str:
    """Raw score, penalty and final score in one line (the badge's title)."""
    if not late_badge(grade):
        return ""
    return (f"raw {score(grade.score, grade.max_score)}, late penalty {points(grade.late_penalty)}, "
            f"final {score(grade.final_score, grade.max_score)}")


def late_badge(grade: Grade) -> str:
    """A short mark for a table cell: "2 d late −4" ("" when the grade lost nothing and was on time)."""
    late = grade.late
    if late is None or not late.days_late:
        return ""
    return f"{late.days_late} d late −{points(grade.late_penalty)}"
