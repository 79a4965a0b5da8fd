"""The figures a notebook drew, as data, for the TA's student page.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

One nullable JSON column, results.execution_figures: a list of {"cell", "mime", "data"}
(grader.models.Figure: a code cell's number, image/png or image/svg+xml, the bytes as base64),
checked and capped in the trusted process (grader/kernel/figures.py). NULL when nothing was
executed, like the other execution_* columns; rows stored before this revision keep NULL and
read back with no figures. No other column changes.
Written out by hand, like 0001, so it keeps meaning the same thing as the models move on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("results", sa.Column("execution_figures", sa.JSON(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column only by rebuilding the table (batch mode).
    with op.batch_alter_table("results") as batch:
        batch.drop_column("execution_figures")
