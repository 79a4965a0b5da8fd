"""The page of one student: every assignment with its tests, errors, output, metrics and signals."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import fields

from grader.models import Figure, Grade, ModelScore
from grader.store.overrides import AppliedOverride
from grader.reports.contexts import (
    AssignmentSection,
    CellErrorRow,
    Detail,
    FigureImage,
    Matrix,
    OverrideNote,
    StudentPageContext,
    TestRow,
)
from grader.reports.lateness import late_details
from grader.reports.manual import manual_rows
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
        total=score(sum(g.final_score for g, _, _ in graded), sum(g.max_score for g, _, _ in graded)),
        sections=tuple(section(g, audit, original) for g, audit, original in graded),
    )


def section(grade: Grade, audit: Sequence[AppliedOverride] = (), original: Grade | None = None) -> AssignmentSection:
    execution = grade.execution
    text, note = excerpt(execution.output_excerpt if execution else "")
    metrics, matrices, details = model_rows(grade.model_score)
    overridden_tests = {a.override.test_id for a in audit if a.applied and a.override.test_id}
    return AssignmentSection(
        assignment=clean(grade.assignment),
        anchor=anchor(grade.assignment),
        status=grade.status.value,
        css=status_css(grade.status),
        score=score(grade.final_score, grade.max_score),
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
                outcome=t.outcome.value,
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
        figures=figure_images(execution.figures if execution else ()),
        late=late_details(grade),
        manual=manual_rows(grade, with_answers=True),
        awaiting_manual=grade.awaiting_manual,
    )


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_IMAGE_MIMES = ("image/png", "image/svg+xml")


def figure_images(figures: Iterable[Figure]) -> tuple[FigureImage, ...]:
    """The figures as <img> sources. They were checked when graded (grader/kernel/figures.py); the
    gradebook is read again here with the same suspicion: an image type and base64, nothing else.
    An SVG stays an image: browsers run no script in an <img> and load nothing from it."""
    return tuple(
        FigureImage(src=f"data:{f.mime};base64,{f.data}", caption=f"cell {f.cell}")
        for f in figures if f.mime in _IMAGE_MIMES and _BASE64.fullmatch(f.data)
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


def model_numbers(measured: ModelScore) -> tuple[tuple[str, float], ...]:
    """The homework's numbers, scores first; those grading did not reach are left out."""
    numbers = (
        ("accuracy", measured.accuracy),
        ("macro_f1", measured.macro_f1),
        *(measured.other_metrics or ()),  # the rubric's further metrics (settings.metrics)
        ("majority_accuracy", measured.majority_accuracy),
        ("n_heldout", measured.n_heldout),
        ("parameters", measured.parameters),
        ("weights_mib", measured.weights_mib),
        ("inference_s", measured.inference_s),
        ("reviews_per_s", measured.reviews_per_s),
        ("seconds", measured.seconds),
    )
    return tuple((name, number) for name, number in numbers if number is not None)


def model_rows(measured: ModelScore | None) -> tuple[tuple[Detail, ...], tuple[Matrix, ...], tuple[Detail, ...]]:
    """A homework grade's ModelScore as numbers, the confusion matrix, and the facts in words."""
    if measured is None:
        return (), (), ()
    metrics = tuple(Detail(name=name, value=value(number)) for name, number in model_numbers(measured))
    facts = [("architecture", measured.architecture), ("device", measured.device), ("dtype", measured.dtype),
             ("heldout", measured.heldout), ("split_hash", measured.split_hash)]
    if measured.per_class_f1 is not None:
        names = _label_names(measured, len(measured.per_class_f1))
        facts.append(("per_class_f1", ", ".join(f"{n} {value(f)}" for n, f in zip(names, measured.per_class_f1))))
    details = tuple(Detail(name=name, value=shorten(str(fact))) for name, fact in facts if fact is not None)
    matrices: tuple[Matrix, ...] = ()
    if measured.confusion_matrix:
        names = _label_names(measured, len(measured.confusion_matrix))
        matrices = (Matrix(name="confusion_matrix", labels=names,
                           rows=tuple((names[i], row) for i, row in enumerate(measured.confusion_matrix))),)
    return metrics, matrices, details


def _label_names(measured: ModelScore, size: int) -> tuple[str, ...]:
    """The task's label names for `size` classes, or their numbers when the names do not fit."""
    labels = measured.labels or ()
    return tuple(clean(label) for label in labels) if len(labels) == size else tuple(str(i) for i in range(size))
