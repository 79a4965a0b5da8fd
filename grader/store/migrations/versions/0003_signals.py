"""Tamper signals as data: what the kernel stage and the checks saw, beside the text they explain.

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-12

Two nullable JSON columns, lists of {"kind", "detail"} (grader.models.Signal):
results.execution_signals (NULL when nothing was executed, like the other execution_* columns)
and test_results.signals. Rows stored before this revision keep NULL there and read back with
no signals: the reports no longer guess them from message text. No other column changes.
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


def downgrade() -> None:
    # SQLite drops a column only by rebuilding the table (batch mode).
    with op.batch_alter_table("test_results") as batch:
        batch.drop_column("signals")
    with op.batch_alter_table("results") as batch:
        batch.drop_column("execution_signals")
