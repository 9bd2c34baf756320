"""The waves of a running deploy, as the job page shows them (issue 16): one row per job, the
latest board (every wave's state, message and bake time left) as JSON, rewritten on each event.

Revision ID: 0005
Revises: 0002

Written beside 0003 (push queue) and 0004 (executors) on other branches: when they merge, point
``down_revision`` at the newest of them so the chain stays one line.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
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
