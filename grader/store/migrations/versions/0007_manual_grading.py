"""Manual grading: written answers per result, TAs' grades of them, who is grading what, the audit trail.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Four new tables, nothing else changes (results keep their automatic score; manual points are
applied when grades are read, like overrides):
`written_answers` (per result: a manual part as its rubric had it, and the student's answer),
`manual_grades` (one per student, assignment and part; `version` for compare-and-set),
`manual_claims` (who opened which answer, when) and `grade_events` (who changed which grade,
when, before, after, why). Written out by hand, like 0001, so it keeps meaning the same thing
as the models move on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "written_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("rubric", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("text_sha256", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["result_id"], ["results.id"], name="fk_written_answers_result_id_results",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_written_answers"),
        sa.UniqueConstraint("result_id", "part", name="uq_written_answers_result_id_part"),
    )
    op.create_index("ix_written_answers_result_id", "written_answers", ["result_id"])
    op.create_table(
        "manual_grades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("assignment", sa.String(255), nullable=False),
        sa.Column("part", sa.String(255), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("adjustment", sa.Float(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("graded_by", sa.String(255), nullable=False),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("answer_sha256", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_manual_grades"),
        sa.UniqueConstraint("student", "assignment", "part", name="uq_manual_grades_student_assignment_part"),
    )
    op.create_table(
        "manual_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("assignment", sa.String(255), nullable=False),
        sa.Column("part", sa.String(255), nullable=False),
        sa.Column("claimed_by", sa.String(255), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_manual_claims"),
        sa.UniqueConstraint("student", "assignment", "part", name="uq_manual_claims_student_assignment_part"),
    )
    op.create_table(
        "grade_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("assignment", sa.String(255), nullable=False),
        sa.Column("part", sa.String(255), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('manual', 'override', 'regrade', 'claim')", name="ck_grade_events_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_grade_events"),
    )
    op.create_index("ix_grade_events_student", "grade_events", ["student"])


def downgrade() -> None:
    op.drop_index("ix_grade_events_student", table_name="grade_events")
    op.drop_table("grade_events")
    op.drop_table("manual_claims")
    op.drop_table("manual_grades")
    op.drop_index("ix_written_answers_result_id", table_name="written_answers")
    op.drop_table("written_answers")
