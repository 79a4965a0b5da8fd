"""Overrides: grades fixed by hand, with who, when and why (grader.store.overrides).

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-10

A new table only: results are never edited by an override, so the original grade stays.
Written out by hand, like 0001, so it keeps meaning the same thing as the models move on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("assignment", sa.String(255), nullable=False),
        sa.Column("test_id", sa.String(255), nullable=True),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("original_points", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["result_id"], ["results.id"], name="fk_overrides_result_id_results"),
        sa.PrimaryKeyConstraint("id", name="pk_overrides"),
    )
    op.create_index("ix_overrides_result_id", "overrides", ["result_id"])


def downgrade() -> None:
    op.drop_index("ix_overrides_result_id", table_name="overrides")
    op.drop_table("overrides")
