"""The push queue: people waiting, in order, per service (or group) and environment.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_entries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("queue", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(63), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("joined", sa.Float, nullable=False),
        sa.Column("turn_since", sa.Float, nullable=True),
        sa.Column("job_id", sa.String(32), nullable=True),
    )
    op.create_index("queue_entries_by_queue", "queue_entries", ["queue", "environment", "seq"])
    op.create_index("queue_entries_one_per_actor", "queue_entries", ["queue", "environment", "actor"], unique=True)


def downgrade() -> None:
    op.drop_table("queue_entries")
