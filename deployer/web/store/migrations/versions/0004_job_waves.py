"""The waves of a running deploy, as the job page shows them (issue 16): one row per job, the
latest board (every wave's state, message and bake time left) as JSON, rewritten on each event.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_waves",
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("board", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_waves")
