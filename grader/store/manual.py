"""Manual grading in the gradebook: written answers, TAs' grades of them, who is grading what, and
the audit trail of every change a person made to a grade. Every query on `written_answers`,
`manual_grades`, `manual_claims` and `grade_events`.

Reached as `Gradebook.manual`; like accounts.py, a module with its own sessions besides gradebook.py.

Two TAs may save the same answer at once. A save is a compare-and-set: the TA's page carries the
version it showed, and the save is one `UPDATE ... WHERE version = expected` (or, for the first
grade, an INSERT that the unique (student, assignment, part) key lets only one TA win). The loser
gets ManualGradeConflict with what the winner saved: never a silent lost update. Each save writes a
GradeEvent (before, after, who, when, why) in the same transaction, so the trail cannot miss one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.errors import GradeError
from grader.models import Grade, ManualGrade, ManualResult, RubricItem, answer_digest
from grader.records import manual_part_from_data
from grader.store.engine import as_utc, now
from grader.store.schema import (GradeEventRow, ManualClaimRow, ManualGradeRow, ResultRow, SubmissionRow,
                                 WrittenAnswerRow)

__all__ = ["CLAIM_TTL", "GradeEvent", "ManualGrade", "ManualGradeConflict", "ManualGrading", "QueueEntry",
           "WrittenAnswer", "apply_manual", "record_event"]

CLAIM_TTL = timedelta(minutes=30)  # a claim older than this shows as free: the TA went for coffee
MAX_COMMENT = 20_000
EVENT_KINDS = frozenset({"manual", "override", "regrade", "claim"})


@dataclass(frozen=True)
class WrittenAnswer:
    """A student's answer to a manual part, from their latest result (markdown; None: none handed in)."""

    student: str
    assignment: str
    part: str
    text: str | None
    part_name: str = ""


class ManualGradeConflict(GradeError):
    """Someone saved this answer's grade after the page being saved was shown. `current` is what they
    saved (None: their grade is gone), for the TA to look at before saving again."""

    def __init__(self, message: str, current: ManualGrade | None) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class QueueEntry:
    """One manual part of one student's latest result, as the grading queue lists it."""

    assignment: str
    part: str
    part_name: str
    student: str
    has_answer: bool
    grade: ManualGrade | None
    claimed_by: str | None  # None: nobody, or a claim older than CLAIM_TTL
    claimed_at: datetime | None
    stale: bool = False  # graded, but the student handed in another answer since


@dataclass(frozen=True)
class GradeEvent:
    """One change a person made to a grade: a manual grade, a regrade, an override, a claim."""

    id: int
    at: datetime
    actor: str
    kind: str  # "manual" | "override" | "regrade" | "claim"
    student: str
    assignment: str
    part: str | None  # the manual part's answer id, the overridden test; None: the whole assignment
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str


def record_event(session: Session, *, actor: str, kind: str, student: str, assignment: str, part: str | None,
                 before: dict[str, Any] | None, after: dict[str, Any] | None, reason: str = "") -> None:
    """Add one GradeEvent to the caller's transaction (a change and its record commit together)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"a grade event is one of {', '.join(sorted(EVENT_KINDS))}, not {kind!r}")
    session.add(GradeEventRow(at=now(), actor=actor, kind=kind, student=student, assignment=assignment, part=part,
                              before=before, after=after, reason=reason))


def apply_manual(grades: Sequence[Grade], manual: Iterable[ManualGrade]) -> list[Grade]:
    """Each grade with its TAs' grades attached to its manual parts and their points added to `score`."""
    found = {(g.student, g.assignment, g.part): g for g in manual}
    out = []
    for grade in grades:
        if not grade.manual:
            out.append(grade)
            continue
        parts = tuple(replace(m, grade=found.get((grade.student, grade.assignment, m.part.answer)))
                      for m in grade.manual)
        added = sum(m.grade.points for m in parts if m.grade is not None)
        out.append(replace(grade, manual=parts, score=grade.score + added))
    return out


def without_manual_grades(grade: Grade) -> Grade:
    """The grade as a result stores it: automatic points only, no TA's grades (they are applied on read)."""
    if not any(m.grade is not None for m in grade.manual):
        return grade
    return replace(grade, score=grade.score - grade.manual_points,
                   manual=tuple(replace(m, grade=None) for m in grade.manual))


class ManualGrading:
    """Manual grades, claims and grade events in the gradebook; `read`/`write` are the Gradebook's sessionmakers."""

    def __init__(self, read: Any, write: Any) -> None:
        self._read = read
        self._write = write

    # -- answers ---------------------------------------------------------------------

    def answer(self, student: str, assignment: str, part: str) -> WrittenAnswer | None:
        """The answer in the latest result of (student, assignment); None: no such result or part."""
        with self._read() as session:
            row = _written_row(session, student, assignment, part)
            if row is None:
                return None
            return WrittenAnswer(student, assignment, part, row.text, part_name=str(row.rubric.get("name", part)))

    def result(self, student: str, assignment: str, part: str) -> ManualResult | None:
        """The part as the latest result has it (the rubric when graded, the answer) with its grade."""
        with self._read() as session:
            row = _written_row(session, student, assignment, part)
            if row is None:
                return None
            found = session.scalars(_grade_query(student, assignment, part)).one_or_none()
            return ManualResult(manual_part_from_data(row.rubric | {"part": row.part}), row.text,
                                None if found is None else _to_grade(found))

    # -- grades ----------------------------------------------------------------------

    def get(self, student: str, assignment: str, part: str) -> ManualGrade | None:
        with self._read() as session:
            row = session.scalars(_grade_query(student, assignment, part)).one_or_none()
            return None if row is None else _to_grade(row)

    def of(self, student: str, assignment: str) -> list[ManualGrade]:
        """The manual grades of one (student, assignment): what a cache redoes after a save."""
        with self._read() as session:
            query = select(ManualGradeRow).filter_by(student=student, assignment=assignment).order_by(ManualGradeRow.id)
            return [_to_grade(row) for row in session.scalars(query)]

    def all(self) -> list[ManualGrade]:
        """Every manual grade (what `apply_manual` puts on the grades read)."""
        with self._read() as session:
            return [_to_grade(row) for row in session.scalars(select(ManualGradeRow).order_by(ManualGradeRow.id))]

    def versions(self) -> dict[tuple[str, str, str], tuple[int, int]]:
        """(student, assignment, part) -> (row id, version) of every manual grade: a cheap read that
        says which grades changed since the last one (a save raises the version)."""
        with self._read() as session:
            query = select(ManualGradeRow.student, ManualGradeRow.assignment, ManualGradeRow.part,
                           ManualGradeRow.id, ManualGradeRow.version)
            return {(s, a, p): (i, v) for s, a, p, i, v in session.execute(query)}

    def save(self, student: str, assignment: str, part: str, *, items: Iterable[str], adjustment: float,
             comment: str, by: str, expected_version: int, reason: str = "") -> ManualGrade:
        """Grade one manual part: the applied items (ids of the part's rubric, as the latest result has
        it), an adjustment in points, a comment to the student. `expected_version` is the version the
        TA saw (0: nobody had graded it). Raises ManualGradeConflict when someone saved in between,
        GradeError for a regrade without a reason or an item the part does not have."""
        if not by.strip():
            raise GradeError("a manual grade needs the grader's name (who graded it, for the audit trail)")
        if isinstance(adjustment, bool) or not isinstance(adjustment, (int, float)) or not math.isfinite(adjustment):
            raise GradeError(f"the adjustment must be a number of points, not {adjustment!r}")
        if expected_version < 0:
            raise GradeError(f"expected_version is 0 (nobody graded it yet) or the version shown, not {expected_version}")
        if expected_version > 0 and not reason.strip():
            raise GradeError(f"{student}'s {part!r} of {assignment} is graded already: a regrade needs a reason "
                             "(say why the grade changes, for the audit trail and the student)")
        if len(comment) > MAX_COMMENT:
            raise GradeError(f"the comment is {len(comment):,} characters; keep it under {MAX_COMMENT:,}")
        result = self.result(student, assignment, part)
        if result is None:
            raise GradeError(f"{student} has no manual part {part!r} in {assignment} ({self._parts_known(student, assignment)}): "
                             "check the spelling of the part's answer id (the rubric's `answer:`), or grade the "
                             "submission first")
        applied = _applied(result.part.items, items, part)
        points = result.part.points_for(applied, float(adjustment))
        values = {"items": [{"id": i.id, "points": i.points, "description": i.description} for i in applied],
                  "adjustment": float(adjustment), "points": points, "comment": comment, "graded_by": by.strip(),
                  "graded_at": now(), "answer_sha256": answer_digest(result.answer)}
        key = {"student": student, "assignment": assignment, "part": part}
        try:
            with self._write.begin() as session:
                if expected_version == 0:
                    before = None
                    row = ManualGradeRow(**key, **values, version=1)
                    session.add(row)
                    session.flush()  # a second first grade fails here, on the unique key
                else:
                    current = session.scalars(_grade_query(student, assignment, part)).one_or_none()
                    before = None if current is None else _event_data(_to_grade(current))
                    done = session.execute(
                        update(ManualGradeRow)
                        .where(ManualGradeRow.student == student, ManualGradeRow.assignment == assignment,
                               ManualGradeRow.part == part, ManualGradeRow.version == expected_version)
                        .values(**values, version=expected_version + 1))
                    if done.rowcount != 1:
                        raise _Lost()
                    session.expire_all()
                    row = session.scalars(_grade_query(student, assignment, part)).one()
                saved = _to_grade(row)
                record_event(session, actor=saved.graded_by, kind="manual" if before is None else "regrade",
                             student=student, assignment=assignment, part=part, before=before,
                             after=_event_data(saved), reason=reason.strip())
                return saved
        except (IntegrityError, _Lost):
            current_grade = self.get(student, assignment, part)
            if current_grade is None:
                said = (f"{student}'s {part!r} of {assignment} has no grade (the page showed version "
                        f"{expected_version}); save it as a first grade")
            else:
                said = (f"{student}'s {part!r} of {assignment} was saved by {current_grade.graded_by} (version "
                        f"{current_grade.version}) after this page was shown (it showed version {expected_version}); "
                        "look at their grade and save again")
            raise ManualGradeConflict(said, current_grade) from None

    def _parts_known(self, student: str, assignment: str) -> str:
        with self._read() as session:
            parts = list(session.scalars(select(WrittenAnswerRow.part).where(
                WrittenAnswerRow.result_id == _latest_result(student, assignment)).order_by(WrittenAnswerRow.position)))
        return f"its manual parts: {', '.join(parts)}" if parts else "its latest result has no manual parts"

    # -- the queue and who is grading what -------------------------------------------

    def queue(self, assignment: str | None = None) -> list[QueueEntry]:
        """Every manual part of every latest result (of `assignment`, or all), by assignment, part
        (rubric order) and student, with its grade and its fresh claim."""
        latest = select(func.max(ResultRow.id)).join(ResultRow.submission).group_by(
            SubmissionRow.student, SubmissionRow.assignment)
        query = (select(SubmissionRow.student, SubmissionRow.assignment, WrittenAnswerRow.part,
                        WrittenAnswerRow.rubric, WrittenAnswerRow.text_sha256, WrittenAnswerRow.position)
                 .join(ResultRow, WrittenAnswerRow.result_id == ResultRow.id)
                 .join(SubmissionRow, ResultRow.submission_id == SubmissionRow.id)
                 .where(ResultRow.id.in_(latest)))
        if assignment is not None:
            query = query.where(SubmissionRow.assignment == assignment)
        fresh = now() - CLAIM_TTL
        with self._read() as session:
            rows = session.execute(query).all()
            grades = {(g.student, g.assignment, g.part): g for g in map(_to_grade, session.scalars(
                select(ManualGradeRow) if assignment is None
                else select(ManualGradeRow).where(ManualGradeRow.assignment == assignment)))}
            claims = {(c.student, c.assignment, c.part): c for c in session.scalars(
                select(ManualClaimRow) if assignment is None
                else select(ManualClaimRow).where(ManualClaimRow.assignment == assignment))
                if as_utc(c.claimed_at) > fresh}
        entries = []
        for student, name, part, rubric, digest, position in rows:
            grade, claim = grades.get((student, name, part)), claims.get((student, name, part))
            entries.append((name, position, student, QueueEntry(
                assignment=name, part=part, part_name=str(rubric.get("name", part)), student=student,
                has_answer=digest is not None, grade=grade, claimed_by=None if claim is None else claim.claimed_by,
                claimed_at=None if claim is None else as_utc(claim.claimed_at),
                stale=grade is not None and grade.answer_sha256 != digest)))
        return [entry for *_, entry in sorted(entries, key=lambda e: e[:3])]

    def claim(self, student: str, assignment: str, part: str, by: str) -> None:
        """Mark (student, assignment, part) as being graded by `by`, now. A change of hands is a grade event."""
        if not by.strip():
            raise GradeError("a claim needs the grader's name")
        for attempt in range(2):
            try:
                with self._write.begin() as session:
                    row = session.scalars(select(ManualClaimRow).filter_by(
                        student=student, assignment=assignment, part=part)).one_or_none()
                    previous = None if row is None else row.claimed_by
                    if row is None:
                        session.add(ManualClaimRow(student=student, assignment=assignment, part=part,
                                                   claimed_by=by, claimed_at=now()))
                    else:
                        row.claimed_by, row.claimed_at = by, now()
                    if previous != by:
                        record_event(session, actor=by, kind="claim", student=student, assignment=assignment,
                                     part=part, before=None if previous is None else {"claimed_by": previous},
                                     after={"claimed_by": by})
                return
            except IntegrityError:  # another TA's first claim won the insert: take it over as an update
                if attempt:
                    raise

    # -- the audit trail -------------------------------------------------------------

    def events(self, student: str | None = None, assignment: str | None = None, limit: int = 500) -> list[GradeEvent]:
        """Grade events, newest first."""
        query = select(GradeEventRow).order_by(GradeEventRow.id.desc()).limit(limit)
        if student is not None:
            query = query.where(GradeEventRow.student == student)
        if assignment is not None:
            query = query.where(GradeEventRow.assignment == assignment)
        with self._read() as session:
            return [GradeEvent(id=r.id, at=as_utc(r.at), actor=r.actor, kind=r.kind, student=r.student,
                               assignment=r.assignment, part=r.part, before=r.before, after=r.after, reason=r.reason)
                    for r in session.scalars(query)]


class _Lost(Exception):
    """The compare-and-set matched no row: someone saved in between."""


def _written_row(session: Any, student: str, assignment: str, part: str) -> WrittenAnswerRow | None:
    """The part's row in the latest result of (student, assignment), if any."""
    return session.scalars(select(WrittenAnswerRow).where(
        WrittenAnswerRow.result_id == _latest_result(student, assignment),
        WrittenAnswerRow.part == part)).one_or_none()


def _latest_result(student: str, assignment: str) -> Any:
    return (select(func.max(ResultRow.id)).join(ResultRow.submission)
            .where(SubmissionRow.student == student, SubmissionRow.assignment == assignment).scalar_subquery())


def _grade_query(student: str, assignment: str, part: str) -> Any:
    return select(ManualGradeRow).where(ManualGradeRow.student == student, ManualGradeRow.assignment == assignment,
                                        ManualGradeRow.part == part)


def _applied(known: Sequence[RubricItem], ids: Iterable[str], part: str) -> tuple[RubricItem, ...]:
    by_id = {item.id: item for item in known}
    wanted = list(dict.fromkeys(ids))
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise GradeError(f"part {part!r} has no item {', '.join(map(repr, unknown))}; "
                         f"its items: {', '.join(by_id) or 'none'}")
    return tuple(by_id[i] for i in wanted)


def _to_grade(row: ManualGradeRow) -> ManualGrade:
    applied = tuple(RubricItem(str(i["id"]), float(i["points"]), str(i["description"])) for i in row.items)
    return ManualGrade(student=row.student, assignment=row.assignment, part=row.part,
                       items=tuple(i.id for i in applied), adjustment=row.adjustment, points=row.points,
                       comment=row.comment, graded_by=row.graded_by, graded_at=as_utc(row.graded_at),
                       version=row.version, applied=applied, answer_sha256=row.answer_sha256)


def _event_data(grade: ManualGrade) -> dict[str, Any]:
    return {"items": list(grade.items), "adjustment": grade.adjustment, "points": grade.points,
            "comment": grade.comment, "graded_by": grade.graded_by, "version": grade.version}
