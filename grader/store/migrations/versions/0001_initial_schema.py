"""Initial gradebook schema: runs, submissions, results, test_results.

Revision ID: 0001
Revises:
Create Date: 2026-05-09

Written out by hand rather than imported from grader.store.gradebook: a migration is a frozen
snapshot, it must keep meaning the same thing after the ORM models move on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("grader_version", sa.String(64), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'finished', 'interrupted', 'failed')", name="ck_runs_status"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("assignment", sa.String(255), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_submissions"),
        sa.UniqueConstraint(
            "student", "assignment", "content_hash", name="uq_submissions_student_assignment_content_hash"
        ),
    )
    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("tests_hash", sa.String(128), nullable=False),
        sa.Column("reference_hash", sa.String(128), nullable=False),
        sa.Column("rubric_hash", sa.String(128), nullable=False),
        sa.Column("grader_version", sa.String(64), nullable=False),
        sa.Column("execution_status", sa.String(16), nullable=True),
        sa.Column("execution_message", sa.Text(), nullable=True),
        sa.Column("output_excerpt", sa.Text(), nullable=True),
        sa.Column("cell_errors", sa.JSON(), nullable=True),
        sa.Column("sandboxed", sa.Boolean(), nullable=True),
        sa.Column("execution_duration_s", sa.Float(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("reused_from_result_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_results_run_id_runs"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], name="fk_results_submission_id_submissions"),
        sa.ForeignKeyConstraint(
            ["reused_from_result_id"], ["results.id"], name="fk_results_reused_from_result_id_results"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_results"),
    )
    op.create_index("ix_results_run_id", "results", ["run_id"])
    op.create_index("ix_results_submission_id", "results", ["submission_id"])
    op.create_table(
        "test_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.String(255), nullable=False),
        sa.Column("part", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("max_points", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"], ["results.id"], name="fk_test_results_result_id_results", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_test_results"),
    )
    op.create_index("ix_test_results_result_id", "test_results", ["result_id"])


def downgrade() -> None:
    op.drop_index("ix_test_results_result_id", table_name="test_results")
    op.drop_table("test_results")
    op.drop_index("ix_results_submission_id", table_name="results")
    op.drop_index("ix_results_run_id", table_name="results")
    op.drop_table("results")
    op.drop_table("submissions")
    op.drop_table("runs")
