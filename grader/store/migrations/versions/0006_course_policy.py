"""The course's policy: each result's lateness, raw/penalty/final scores, the roster and Canvas ids.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

results gains three nullable columns: `late` (JSON, grader.models.Lateness: due time, submission
time, days late, penalty percent, extension, message; NULL when no deadline applied),
`late_penalty` and `final_score` (points, derived from score and late when the row was written).
Rows stored before this revision had no late policy: they get late_penalty 0 and final_score =
score, and read back with no lateness. Two new tables: `roster` (the students of the course, with
their LMS ids) and `lms_assignments` (an assignment's Canvas id). Nothing else changes.
Written out by hand, like 0001, so it keeps meaning the same thing as the models move on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("results", sa.Column("late", sa.JSON(), nullable=True))
    op.add_column("results", sa.Column("late_penalty", sa.Float(), nullable=True))
    op.add_column("results", sa.Column("final_score", sa.Float(), nullable=True))
    op.execute("UPDATE results SET late_penalty = 0, final_score = score")
    op.create_table(
        "roster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("section", sa.String(255), nullable=False),
        sa.Column("canvas_id", sa.String(64), nullable=False),
        sa.Column("sis_user_id", sa.String(255), nullable=False),
        sa.Column("idnumber", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_roster"),
        sa.UniqueConstraint("student", name="uq_roster_student"),
    )
    op.create_table(
        "lms_assignments",
        sa.Column("assignment", sa.String(255), nullable=False),
        sa.Column("canvas_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("assignment", name="pk_lms_assignments"),
    )


def downgrade() -> None:
    op.drop_table("lms_assignments")
    op.drop_table("roster")
    with op.batch_alter_table("results") as batch:  # SQLite drops a column only by rebuilding the table
        batch.drop_column("final_score")
        batch.drop_column("late_penalty")
        batch.drop_column("late")
