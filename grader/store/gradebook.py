"""The gradebook: every query (tables in schema.py, engines in engine.py). With accounts.py
(the web app's users and sessions, reached as `Gradebook.accounts`), the only module that
opens a session.

A grading run is recorded with what each result was computed against (the hashes of
the submission, tests, reference and rubric, and the grader's version), so a grade can
be explained and reproduced later, and an unchanged submission is not graded twice.
SQLite by default (WAL, so reports can be read while a run writes); any SQLAlchemy URL
works. The schema only ever changes through the Alembic migrations in grader/store/migrations.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload, sessionmaker

from grader import __version__
from grader.errors import GradeError
from grader.models import Fingerprint, Grade, RosterStudent, RunState, Status, answer_digest
from grader.records import grade_from_record, grade_to_record
from grader.store.accounts import Accounts
from grader.store.manual import GradeEvent, ManualGrading, apply_manual, record_event, without_manual_grades
from grader.store.overrides import Override, check_override
from grader.store.engine import as_utc, engine_for, now, run_process_alive, sqlite_pragma
from grader.store.stored import Revision, RunInfo, StoredResult
from grader.store.schema import (LmsAssignmentRow, ManualGradeRow, OverrideRow, ResultRow,
                                 ResultTestRow, RosterRow, RunRow, SubmissionRow, WrittenAnswerRow)

MIGRATIONS = Path(__file__).with_name("migrations")
# Statuses whose result depends on more than the fingerprint (a flaky machine, say) and
# so must be graded again. Empty today: every Status is a pure function of the inputs,
# a timeout or a rejection included. A status added later is not reused until listed.
TRANSIENT: frozenset[Status] = frozenset()
REUSABLE: frozenset[Status] = frozenset(Status) - TRANSIENT


ROSTER_FIELDS = tuple(f.name for f in fields(RosterStudent))


class Gradebook:
    """The grades database. `Gradebook("grades.db")` or `Gradebook("postgresql://...")`."""

    def __init__(self, db: str | os.PathLike[str]) -> None:
        self._engine = engine_for(str(db))
        # Writes on SQLite start with BEGIN IMMEDIATE: a deferred transaction that reads
        # and then writes fails at once with "database is locked" if another writer got
        # in between, whereas IMMEDIATE waits its turn under busy_timeout.
        self._write = sessionmaker(self._engine.execution_options(grader_immediate=True), expire_on_commit=False)
        self._read = sessionmaker(self._engine, expire_on_commit=False)
        try:
            self._migrate()
        except BaseException:
            self._engine.dispose()
            raise
        self.accounts = Accounts(self._read, self._write)
        self.manual = ManualGrading(self._read, self._write)

    def events(self, student: str | None = None, assignment: str | None = None, limit: int = 500) -> list[GradeEvent]:
        """The audit trail (manual grades, regrades, overrides, claims), newest first."""
        return self.manual.events(student, assignment, limit)

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    def _migrate(self) -> None:
        """Bring the schema to head with Alembic, in one transaction, on our own connection."""
        from alembic import command
        from alembic.config import Config
        from alembic.util import CommandError

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._engine.execution_options(grader_immediate=True).connect() as conn:
            # Batch migrations rebuild SQLite tables; with foreign keys enforced that
            # would cascade. The pragma only takes effect outside a transaction.
            sqlite_pragma(conn, "PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
            except CommandError as err:
                raise GradeError(
                    f"cannot migrate the gradebook at {self._engine.url!r}: {err}; "
                    "if a newer grader wrote it, upgrade grader to read it"
                ) from err
            finally:
                sqlite_pragma(conn, "PRAGMA foreign_keys=ON")

    # -- runs ------------------------------------------------------------------------

    def start_run(self, options: dict[str, Any]) -> int:
        """Record a new run; earlier runs left `running` by a dead process become `interrupted`."""
        started = now()
        host = socket.gethostname()
        with self._write.begin() as session:
            stale = session.scalars(select(RunRow).where(RunRow.status == RunState.RUNNING.value, RunRow.host == host))
            for old in stale:
                if not run_process_alive(old.pid, as_utc(old.started_at)):
                    old.status = RunState.INTERRUPTED.value  # finished_at stays empty: when it died is unknown
            run = RunRow(
                started_at=started,
                status=RunState.RUNNING.value,
                pid=os.getpid(),
                host=host,
                grader_version=__version__,
                options=json.loads(json.dumps(options, default=str)),  # Paths and the like as text
            )
            session.add(run)
            session.flush()
            return run.id

    def finish_run(self, run_id: int, status: RunState = RunState.FINISHED) -> None:
        if status not in set(RunState) - {RunState.RUNNING}:
            raise ValueError(f"a run finishes as one of finished, interrupted, failed, not {status!r}")
        with self._write.begin() as session:
            run = session.get(RunRow, run_id)
            if run is None:
                raise KeyError(f"no run {run_id} in the gradebook")
            run.status = RunState(status).value
            run.finished_at = now()

    def runs(self) -> list[RunInfo]:
        with self._read() as session:
            rows = session.scalars(select(RunRow).order_by(RunRow.id))
            return [
                RunInfo(
                    id=r.id,
                    started_at=as_utc(r.started_at),
                    finished_at=None if r.finished_at is None else as_utc(r.finished_at),
                    status=RunState(r.status),
                    pid=r.pid,
                    host=r.host,
                    grader_version=r.grader_version,
                    options=dict(r.options),
                )
                for r in rows
            ]

    def revision(self) -> Revision:
        """A cheap value that changes whenever anything a report shows changes (a result, an
        override, a manual grade, a run starting or finishing): what a cache of the pages is keyed on.
        Its fields say what changed: only `manual` and `overrides` lets a cache redo one student's pages."""
        with self._read() as session:
            roster = session.execute(select(func.max(RosterRow.id), func.count(RosterRow.id))).one()
            results = session.execute(select(func.max(ResultRow.id), func.count(ResultRow.id))).one()
            overrides = session.execute(select(func.max(OverrideRow.id), func.count(OverrideRow.id))).one()
            runs = session.execute(select(RunRow.id, RunRow.status, RunRow.finished_at).order_by(RunRow.id)).all()
            # A save adds a row or raises a version. Claims are left out on purpose: a TA opening an
            # answer changes no page of the report, so it must not make a cache of them stale.
            manual = session.execute(select(func.count(ManualGradeRow.id), func.sum(ManualGradeRow.version))).one()
            return Revision(tuple(results), tuple(overrides), tuple(tuple(r) for r in runs), tuple(roster),
                            tuple(int(n or 0) for n in manual))

    # -- results ---------------------------------------------------------------------

    def record(self, run_id: int, grade: Grade, reused_from: int | None = None) -> int:
        """Store one grade with its tests in one transaction; returns the result's id."""
        try:
            return self._record(run_id, grade, reused_from)
        except IntegrityError:
            # Another process inserted the same submission between our select and insert;
            # the transaction rolled back whole, and this time the select finds it.
            return self._record(run_id, grade, reused_from)

    def _record(self, run_id: int, grade: Grade, reused_from: int | None) -> int:
        # A grade read back (grade policy re-records them) carries the TAs' grades: never store those points.
        record = grade_to_record(without_manual_grades(grade))
        key = {"student": record.pop("student"), "assignment": record.pop("assignment"),
               "content_hash": record.pop("submission_hash")}
        tests = record.pop("tests")
        answers = [WrittenAnswerRow(part=m["part"], position=i, text=m["text"], text_sha256=answer_digest(m["text"]),
                                    rubric={k: v for k, v in m.items() if k not in ("part", "text")})
                   for i, m in enumerate(record.pop("manual"))]
        with self._write.begin() as session:
            submission = session.scalars(select(SubmissionRow).filter_by(**key)).one_or_none()
            if submission is None:
                submission = SubmissionRow(**key)
            row = ResultRow(
                **record,
                run_id=run_id,
                submission=submission,
                reused_from_result_id=reused_from,
                created_at=now(),
                tests=[ResultTestRow(**test) for test in tests],
                answers=answers,
            )
            session.add(row)
            session.flush()
            return row.id

    def find_reusable(self, student: str, assignment: str, fingerprint: Fingerprint) -> Grade | None:
        """The stored grade for exactly these inputs, if any: same input gives same output."""
        found = self.find_reusable_result(student, assignment, fingerprint)
        return None if found is None else found[1]

    def find_reusable_result(
        self, student: str, assignment: str, fingerprint: Fingerprint
    ) -> tuple[int, Grade] | None:
        """Like `find_reusable`, with the id to pass as `record(..., reused_from=)`.

        The id is that of the result where the grade was first computed, so reuse
        chains stay one step long and always point at the run that did the work.
        """
        query = (
            _full_results()
            .join(ResultRow.submission)
            .where(
                SubmissionRow.student == student,
                SubmissionRow.assignment == assignment,
                SubmissionRow.content_hash == fingerprint.submission_hash,
                ResultRow.tests_hash == fingerprint.tests_hash,
                ResultRow.reference_hash == fingerprint.reference_hash,
                ResultRow.rubric_hash == fingerprint.rubric_hash,
                ResultRow.grader_version == fingerprint.grader_version,
                ResultRow.status.in_([str(s) for s in REUSABLE]),
            )
            .order_by(ResultRow.id.desc())
            .limit(1)
        )
        with self._read() as session:
            row = session.scalars(query).one_or_none()
            if row is None:
                return None
            return row.reused_from_result_id or row.id, _to_grade(row)

    def latest_grades(self) -> list[Grade]:
        """The newest result per (student, assignment), sorted by student then assignment."""
        latest = (
            select(func.max(ResultRow.id))
            .join(ResultRow.submission)
            .group_by(SubmissionRow.student, SubmissionRow.assignment)
        )
        query = (
            _full_results()
            .join(ResultRow.submission)
            .where(ResultRow.id.in_(latest))
            .order_by(SubmissionRow.student, SubmissionRow.assignment)
        )
        with self._read() as session:
            grades = [_to_grade(row) for row in session.scalars(query)]
        return apply_manual(grades, self.manual.all())

    def latest_results(self) -> list[StoredResult]:
        """Like `latest_grades`, with each result's id and run (what an override is made against)."""
        latest = (
            select(func.max(ResultRow.id))
            .join(ResultRow.submission)
            .group_by(SubmissionRow.student, SubmissionRow.assignment)
        )
        return self._stored(_full_results().where(ResultRow.id.in_(latest)))

    def history(self) -> list[StoredResult]:
        """Every stored result of every run, oldest first: what the per-run pages compare."""
        return self._stored(_full_results())

    def computed_history(self) -> list[StoredResult]:
        """Like `history`, as the grader computed it: without the TAs' manual grades, for a reader
        that keeps the results and applies `manual.all()` itself (the web app, after each save)."""
        return self._computed(_full_results())

    def _stored(self, query: Select[Any]) -> list[StoredResult]:
        """The results with the TAs' manual grades applied, like `latest_grades`."""
        rows = self._computed(query)
        if not rows:
            return []
        grades = apply_manual([r.grade for r in rows], self.manual.all())
        return [replace(r, grade=grade) for r, grade in zip(rows, grades)]

    def _computed(self, query: Select[Any]) -> list[StoredResult]:
        with self._read() as session:
            return [StoredResult(result_id=row.id, run_id=row.run_id, reused_from=row.reused_from_result_id,
                                 grade=_to_grade(row))
                    for row in session.scalars(query.order_by(ResultRow.id))]

    # -- the roster (grader.course.roster) ----------------------------------------------------

    def replace_roster(self, students: Iterable[RosterStudent], canvas_assignments: dict[str, str]) -> None:
        """Store the course's roster as read now (every student, the Canvas assignment ids), replacing the last."""
        with self._write.begin() as session:
            session.execute(delete(RosterRow))
            session.execute(delete(LmsAssignmentRow))
            session.add_all(RosterRow(**{f: getattr(s, f) for f in ROSTER_FIELDS}) for s in students)
            session.add_all(LmsAssignmentRow(assignment=a, canvas_id=i) for a, i in canvas_assignments.items())

    def roster(self) -> list[RosterStudent]:
        """The stored roster, by student id; empty when the course has none."""
        with self._read() as session:
            return [RosterStudent(**{f: getattr(row, f) for f in ROSTER_FIELDS})
                    for row in session.scalars(select(RosterRow).order_by(RosterRow.student))]

    def canvas_assignments(self) -> dict[str, str]:
        with self._read() as session:
            return {row.assignment: row.canvas_id for row in session.scalars(select(LmsAssignmentRow))}

    # -- overrides (grader.store.overrides) ------------------------------------------------

    def add_override(self, student: str, assignment: str, test_id: str | None, points: float, *,
                     reason: str, created_by: str) -> Override:
        """Record a grade fixed by hand against the latest result of (student, assignment)."""
        if not reason.strip():
            raise GradeError("an override needs a --reason: say why the grade changes, for the audit trail")
        # The pair's newest result only: reading every latest result took seconds at 600 students.
        newest = (_full_results().join(ResultRow.submission)
                  .where(SubmissionRow.student == student, SubmissionRow.assignment == assignment)
                  .order_by(ResultRow.id.desc()).limit(1))
        found = self._stored(newest)
        if not found:
            raise GradeError(
                f"no grade for student {student!r}, assignment {assignment!r} in the gradebook; "
                "check the spelling (`grade export --format csv` lists them) or grade the submission first"
            )
        original = check_override(found[0].grade, test_id, points)
        with self._write.begin() as session:
            row = OverrideRow(student=student, assignment=assignment, test_id=test_id or None, points=points,
                              original_points=original, reason=reason.strip(), created_by=created_by,
                              created_at=now(), result_id=found[0].result_id)
            session.add(row)
            session.flush()
            record_event(session, actor=created_by, kind="override", student=student, assignment=assignment,
                         part=test_id or None, before={"points": original}, after={"points": points, "override": row.id},
                         reason=reason.strip())
            return _to_override(row)

    def overrides(self) -> list[Override]:
        """Every override ever made, oldest first (the audit trail; the newest per target is in force)."""
        with self._read() as session:
            return [_to_override(row) for row in session.scalars(select(OverrideRow).order_by(OverrideRow.id))]


def _to_override(row: OverrideRow) -> Override:
    return Override(id=row.id, student=row.student, assignment=row.assignment, test_id=row.test_id,
                    points=row.points, reason=row.reason, created_by=row.created_by,
                    created_at=as_utc(row.created_at), result_id=row.result_id,
                    original_points=row.original_points)


def _full_results() -> Select[Any]:
    return select(ResultRow).options(selectinload(ResultRow.tests), selectinload(ResultRow.submission),
                                     selectinload(ResultRow.answers))


# Columns that place a row in the database rather than describe its Grade.
_RESULT_ONLY = frozenset({"id", "run_id", "submission_id", "reused_from_result_id", "created_at"})
_TEST_ONLY = frozenset({"id", "result_id"})


def _to_grade(row: ResultRow) -> Grade:
    return grade_from_record(
        {c.key: getattr(row, c.key) for c in ResultRow.__table__.columns if c.key not in _RESULT_ONLY}
        | {"student": row.submission.student, "assignment": row.submission.assignment,
           "submission_hash": row.submission.content_hash,
           "tests": [{c.key: getattr(t, c.key) for c in ResultTestRow.__table__.columns if c.key not in _TEST_ONLY}
                     for t in row.tests],
           "manual": [a.rubric | {"part": a.part, "text": a.text} for a in row.answers]}
    )
