"""Jobs, their log lines and the audit trail.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE = sa.text("state IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(63), nullable=False),
        sa.Column("revision", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("started", sa.Float, nullable=True),
        sa.Column("finished", sa.Float, nullable=True),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("heartbeat", sa.Float, nullable=True),
        sa.Column("cancel", sa.String(120), nullable=True),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("report", sa.Text, nullable=False, server_default=""),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("hint", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("jobs_one_active_per_environment", "jobs", ["service", "environment"], unique=True,
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    op.create_index("jobs_by_state", "jobs", ["state", "created"])
    op.create_table(
        "job_lines",
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(63), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("audit_by_time", "audit", ["time"])


def downgrade() -> None:
    op.drop_table("audit")
    op.drop_table("job_lines")
    op.drop_table("jobs")
