"""The tables. Times are epoch seconds (float) written by the process that acts, so SQLite and
PostgreSQL compare them alike; a job's log lines are rows keyed by (job, seq) so any process can
tail them from where it left off.

A job moves ``queued`` -> ``running`` -> ``finished``, or ends ``interrupted`` (its worker stopped
heart-beating) or ``cancelled`` (cancelled before a worker claimed it). At most one job per
service and environment is queued or running (a partial unique index: the database, not a
process, refuses the second press). The push queue of issue 15 is meant to extend this table
(ordering, more than one queued per environment) through a later migration.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

ACTIVE_STATES = ("queued", "running")
ACTIVE = sa.text("state IN ('queued', 'running')")

jobs = sa.Table(
    "jobs", metadata,
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
    sa.Column("source", sa.String(63), nullable=True),  # promote: the environment promoted from (revision 0002)
    sa.Index("jobs_one_active_per_environment", "service", "environment", unique=True,
             sqlite_where=ACTIVE, postgresql_where=ACTIVE),
    sa.Index("jobs_by_state", "state", "created"),
)

job_lines = sa.Table(
    "job_lines", metadata,
    sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("text", sa.Text, nullable=False),
)

audit = sa.Table(
    "audit", metadata,
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
    sa.Index("audit_by_time", "time"),
)

queue_entries = sa.Table(  # the push queue (revision 0003); deployer.web.queue
    "queue_entries", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("queue", sa.String(63), nullable=False),  # a service, or the group it deploys with
    sa.Column("environment", sa.String(63), nullable=False),
    sa.Column("actor", sa.String(80), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("joined", sa.Float, nullable=False),
    sa.Column("turn_since", sa.Float, nullable=True),
    sa.Column("job_id", sa.String(32), nullable=True),
    sa.Index("queue_entries_by_queue", "queue", "environment", "seq"),
    sa.Index("queue_entries_one_per_actor", "queue", "environment", "actor", unique=True),
)


job_waves = sa.Table(  # revision 0004: the waves of a running deploy (deployer.web.store.waves)
    "job_waves", metadata,
    sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("updated", sa.Float, nullable=False),
    sa.Column("board", sa.JSON, nullable=False),
)
