"""The gradebook's tables (SQLAlchemy models). They change only through the Alembic
migrations in grader/store/migrations; grader/store/gradebook.py is the only module that queries them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, Float, ForeignKey, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    # Named constraints: Alembic's SQLite batch mode can only drop what has a name.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (CheckConstraint("status IN ('running', 'finished', 'interrupted', 'failed')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    pid: Mapped[int]
    host: Mapped[str] = mapped_column(String(255))
    grader_version: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)


class SubmissionRow(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("student", "assignment", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student: Mapped[str] = mapped_column(String(255))
    assignment: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(128))


class ResultRow(Base):
    """One Grade. The execution_* columns are all NULL when nothing was executed."""

    __tablename__ = "results"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    tests_hash: Mapped[str] = mapped_column(String(128))
    reference_hash: Mapped[str] = mapped_column(String(128))
    rubric_hash: Mapped[str] = mapped_column(String(128))
    grader_version: Mapped[str] = mapped_column(String(64))
    execution_status: Mapped[str | None] = mapped_column(String(16))
    execution_message: Mapped[str | None] = mapped_column(Text)
    output_excerpt: Mapped[str | None] = mapped_column(Text)
    cell_errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    sandboxed: Mapped[bool | None]
    execution_duration_s: Mapped[float | None] = mapped_column(Float)
    execution_signals: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)  # NULL before revision 0003
    # [{"cell", "mime", "data"}] (grader.models.Figure); NULL before revision 0005
    execution_figures: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    duration_s: Mapped[float] = mapped_column(Float)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)  # the homework's ModelScore as plain data; {} for notebooks
    # grader.models.Lateness as plain data; NULL when no deadline applied, and before revision 0006.
    late: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Derived from score and late when the row was written (overrides come on top when grades are read).
    late_penalty: Mapped[float | None] = mapped_column(Float)
    final_score: Mapped[float | None] = mapped_column(Float)
    reused_from_result_id: Mapped[int | None] = mapped_column(ForeignKey("results.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    submission: Mapped[SubmissionRow] = relationship()
    tests: Mapped[list[ResultTestRow]] = relationship(
        order_by="ResultTestRow.id", cascade="all, delete-orphan", passive_deletes=True
    )
    answers: Mapped[list[WrittenAnswerRow]] = relationship(
        order_by="WrittenAnswerRow.position", cascade="all, delete-orphan", passive_deletes=True
    )


class ResultTestRow(Base):
    __tablename__ = "test_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    test_id: Mapped[str] = mapped_column(String(255))
    part: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    points: Mapped[float] = mapped_column(Float)
    max_points: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    duration_s: Mapped[float] = mapped_column(Float)
    signals: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)  # NULL before revision 0003
    # The check's own version of `message` for students; NULL when it wrote none, and before revision 0003.
    student_message: Mapped[str | None] = mapped_column(Text)


class OverrideRow(Base):
    """A grade fixed by hand (grader.store.overrides); results are never edited, so the original stays."""

    __tablename__ = "overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    student: Mapped[str] = mapped_column(String(255))
    assignment: Mapped[str] = mapped_column(String(255))
    test_id: Mapped[str | None] = mapped_column(String(255))  # NULL: the whole assignment
    points: Mapped[float] = mapped_column(Float)
    original_points: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    result_id: Mapped[int | None] = mapped_column(ForeignKey("results.id"), index=True)


class UserRow(Base):
    """An account of the web app (grader.store.accounts): who may log in to `grade serve`, and as what."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('instructor', 'ta')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, PHC string; never the password
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebSessionRow(Base):
    """A logged-in browser. The cookie holds a random id; only its SHA-256 is stored, so a copy of
    the database logs nobody in, and deleting the row ends the session for good."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class RosterRow(Base):
    """A student of the course (grader/course/roster.py), as the last `grade PATH` read roster.csv.
    `student` is the submission folder's name; the LMS ids are what `grade export --format canvas|moodle`
    matches on. Replaced whole each time a roster is read."""

    __tablename__ = "roster"

    id: Mapped[int] = mapped_column(primary_key=True)
    student: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255))
    section: Mapped[str] = mapped_column(String(255))
    canvas_id: Mapped[str] = mapped_column(String(64))  # Canvas's user ID ("ID"); "" when unknown
    sis_user_id: Mapped[str] = mapped_column(String(255))
    idnumber: Mapped[str] = mapped_column(String(255))  # Moodle's ID number


class LmsAssignmentRow(Base):
    """An assignment's id in Canvas, read from the header of a Canvas gradebook export used as the roster
    ("Name (12345)"), so that `grade export --format canvas` updates that column instead of adding one."""

    __tablename__ = "lms_assignments"

    assignment: Mapped[str] = mapped_column(String(255), primary_key=True)
    canvas_id: Mapped[str] = mapped_column(String(64))


class WrittenAnswerRow(Base):
    """A manual part of one result (grader.models.ManualResult): the part as the rubric had it when the
    result was graded (`rubric`: name, items, comments) and the student's answer (NULL: none)."""

    __tablename__ = "written_answers"
    __table_args__ = (UniqueConstraint("result_id", "part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    part: Mapped[str] = mapped_column(String(255))  # the answer id (a cell's id, or REPORT.md)
    position: Mapped[int]  # the part's place among the rubric's manual parts
    rubric: Mapped[dict[str, Any]] = mapped_column(JSON)
    text: Mapped[str | None] = mapped_column(Text)
    text_sha256: Mapped[str | None] = mapped_column(String(64))  # grader.models.answer_digest(text): the queue's
                                                                 # test for a changed answer, without reading texts


class ManualGradeRow(Base):
    """A TA's grade of one manual part (grader.store.manual). One row per (student, assignment, part),
    changed only by compare-and-set on `version`; every change is also a grade event."""

    __tablename__ = "manual_grades"
    __table_args__ = (UniqueConstraint("student", "assignment", "part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student: Mapped[str] = mapped_column(String(255))
    assignment: Mapped[str] = mapped_column(String(255))
    part: Mapped[str] = mapped_column(String(255))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # applied items: id, points, description as saved
    adjustment: Mapped[float] = mapped_column(Float)
    points: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text)
    graded_by: Mapped[str] = mapped_column(String(255))
    graded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int]
    answer_sha256: Mapped[str | None] = mapped_column(String(64))  # the answer graded; NULL: none handed in


class ManualClaimRow(Base):
    """Who is grading what: a TA opened this (student, assignment, part) at `claimed_at`."""

    __tablename__ = "manual_claims"
    __table_args__ = (UniqueConstraint("student", "assignment", "part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student: Mapped[str] = mapped_column(String(255))
    assignment: Mapped[str] = mapped_column(String(255))
    part: Mapped[str] = mapped_column(String(255))
    claimed_by: Mapped[str] = mapped_column(String(255))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GradeEventRow(Base):
    """The audit trail: one row per change a person made to a grade (a manual grade, a regrade, an
    override, a claim): who, when, what it was before and after, and why. Never updated."""

    __tablename__ = "grade_events"
    __table_args__ = (CheckConstraint("kind IN ('manual', 'override', 'regrade', 'claim')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    student: Mapped[str] = mapped_column(String(255), index=True)
    assignment: Mapped[str] = mapped_column(String(255))
    part: Mapped[str | None] = mapped_column(String(255))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
