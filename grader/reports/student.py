"""The page of one student: every assignment with its tests, errors, output, metrics and signals."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from grader.models import Grade
from grader.store.overrides import AppliedOverride
from grader.reports.contexts import (
    AssignmentSection,
    CellErrorRow,
    Detail,
    Matrix,
    OverrideNote,
    StudentPageContext,
    TestRow,
)
from grader.reports.signals import tamper_signals
from grader.reports.text import (
    anchor,
    clean,
    excerpt,
    outcome_css,
    points,
    score,
    shorten,
    status_css,
    student_page,
    page_of_test,
    timestamp,
    value,
)

STYLESHEET = "static/style.css"
# Grade.extra keys shown elsewhere, or not at all, rather than as a plain detail.
_LABEL_KEYS = ("labels", "label_names", "classes")
_HIDDEN_KEYS = frozenset({"tamper", *_LABEL_KEYS})


def student_context(
    student: str,
    graded: Iterable[tuple[Grade, tuple[AppliedOverride, ...], Grade]],
    *,
    title: str,
    generated_at: str,
) -> StudentPageContext:
    """`graded` holds (grade after overrides, the overrides applied, the grade as computed)."""
    graded = sorted(graded, key=lambda item: item[0].assignment)
    return StudentPageContext(
        page_title=f"{clean(student)} · {clean(title)}",
        stylesheet=f"../{STYLESHEET}",
        generated_at=generated_at,
        report_title=clean(title),
        index_href="../index.html",
        student=clean(student),
        total=score(sum(g.score for g, _, _ in graded), sum(g.max_score for g, _, _ in graded)),
        sections=tuple(section(g, audit, original) for g, audit, original in graded),
    )


def section(grade: Grade, audit: Sequence[AppliedOverride] = (), original: Grade | None = None) -> AssignmentSection:
    execution = grade.execution
    text, note = excerpt(execution.output_excerpt if execution else "")
    metrics, matrices, details = split_extra(grade.extra)
    overridden_tests = {a.override.test_id for a in audit if a.applied and a.override.test_id}
    return AssignmentSection(
        assignment=clean(grade.assignment),
        anchor=anchor(grade.assignment),
        status=grade.status.value,
        css=status_css(grade.status),
        score=score(grade.score, grade.max_score),
        message=shorten(grade.message),
        duration=f"{grade.duration_s:.1f} s",
        unsandboxed=execution is not None and not execution.sandboxed,
        execution_message=shorten(execution.message) if execution else "",
        cell_errors=tuple(
            CellErrorRow(cell=e.cell, ename=shorten(e.ename), evalue=shorten(e.evalue))
            for e in (execution.cell_errors if execution else ())
        ),
        tests=tuple(
            TestRow(
                test_id=clean(t.test_id),
                part=clean(t.part),
                outcome=clean(t.outcome),
                css=outcome_css(t.outcome),
                points=score(t.points, t.max_points),
                message=shorten(t.message),
                href=f"../{page_of_test(grade.assignment, t.test_id)}",
                overridden=t.test_id in overridden_tests,
            )
            for t in grade.tests
        ),
        excerpt=text,
        excerpt_note=note,
        details=details,
        fingerprint=tuple(
            Detail(name=f.name, value=clean(str(getattr(grade.fingerprint, f.name))))
            for f in fields(grade.fingerprint)
        ),
        metrics=metrics,
        matrices=matrices,
        signals=tamper_signals(original or grade),
        overrides=tuple(override_note(a, href="") for a in audit),
        computed_score=score(original.score, original.max_score) if audit and original else "",
    )


def override_note(applied: AppliedOverride, *, href: str) -> OverrideNote:
    item = applied.override
    return OverrideNote(
        student=clean(item.student),
        student_href=href,
        assignment=clean(item.assignment),
        target=clean(item.test_id) if item.test_id else "whole assignment",
        before=points(applied.before),
        after=points(applied.after),
        by=clean(item.created_by),
        when=timestamp(item.created_at),
        reason=shorten(item.reason),
        applied=applied.applied,
    )


def override_notes(audits: Iterable[tuple[Grade, Sequence[AppliedOverride]]]) -> tuple[OverrideNote, ...]:
    """Every override in force, for the class overview, each linking to its student."""
    return tuple(
        override_note(a, href=student_page(g.student) + f"#{anchor(g.assignment)}")
        for g, audit in audits
        for a in audit
    )


def split_extra(extra: dict[str, Any]) -> tuple[tuple[Detail, ...], tuple[Matrix, ...], tuple[Detail, ...]]:
    """Grade.extra as numbers (homework metrics), matrices (confusion) and anything else."""
    labels = next((extra[k] for k in _LABEL_KEYS if isinstance(extra.get(k), list)), None)
    metrics, matrices, details = [], [], []
    for key, item in sorted(extra.items(), key=lambda kv: str(kv[0])):
        name = clean(str(key))
        if key in _HIDDEN_KEYS:
            continue
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            metrics.append(Detail(name=name, value=value(item)))
        elif _is_matrix(item):
            size = len(item)
            names = [clean(str(x)) for x in labels] if labels and len(labels) == size else [str(i) for i in range(size)]
            matrices.append(
                Matrix(name=name, labels=tuple(names), rows=tuple((names[i], tuple(row)) for i, row in enumerate(item)))
            )
        else:
            details.append(Detail(name=name, value=shorten(value(item))))
    return tuple(metrics), tuple(matrices), tuple(details)


def _is_matrix(item: Any) -> bool:
    return (
        isinstance(item, list)
        and 0 < len(item) <= 50
        and all(isinstance(row, list) and len(row) == len(item) for row in item)
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for row in item for x in row)
    )
