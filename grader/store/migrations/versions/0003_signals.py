"""Tamper signals and students' messages as data, written by the stage that knows them, beside the text.

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-12

Two nullable JSON columns, lists of {"kind", "detail"} (grader.models.Signal):
results.execution_signals (NULL when nothing was executed, like the other execution_* columns)
and test_results.signals. One nullable text column, test_results.student_message: the message
without the hidden expected values, as the check helper that failed wrote it
(grader.checks.tensors.CheckFailed.for_student); NULL when the failure came from elsewhere.
Rows stored before this revision keep NULL in all three and read back with no signals and no
student message (feedback then redacts the message): the reports no longer guess either from
message text. No other column changes.
Written out by hand, like 0001, so it keeps meaning the same thing as the models move on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("results", sa.Column("execution_signals", sa.JSON(), nullable=True))
    op.add_column("test_results", sa.Column("signals", sa.JSON(), nullable=True))
    op.add_column("test_results", sa.Column("student_message", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column only by rebuilding the table (batch mode).
    with op.batch_alter_table("test_results") as batch:
        batch.drop_column("student_message")
        batch.drop_column("signals")
    with op.batch_alter_table("results") as batch:
        batch.drop_column("execution_signals")
