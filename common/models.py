"""The two tables, as SQLAlchemy Core. The migrations in common/migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql

from common.states import TERMINAL, Status

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
JobId = BigInteger().with_variant(Integer(), "sqlite")
# All times are naive UTC with microseconds (MySQL's DATETIME defaults to whole seconds).
UtcTimestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
StatusColumn = String(16)
_TERMINAL = ", ".join(f"'{s}'" for s in sorted(TERMINAL))

jobs = Table(
    "jobs",
    metadata,
    Column("id", JobId, primary_key=True, autoincrement=True),
    Column("queue", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", StatusColumn, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("run_at", UtcTimestamp, nullable=False),
    Column("locked_until", UtcTimestamp),
    Column("lease_token", String(32)),
    Column("locked_by", String(128)),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("result", JSON),
    Column("idempotency_key", String(255)),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("updated_at", UtcTimestamp, nullable=False),
    Column("started_at", UtcTimestamp),
    Column("finished_at", UtcTimestamp),
    # Set when the job is dead-lettered (common/fingerprint.py), cleared when it leaves the DLQ.
    Column("error_fingerprint", String(16)),
    CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in Status) + ")", name="status_known"),
    # A job is finished exactly when its status is terminal (as River's finalized_at check).
    CheckConstraint(
        f"(status IN ({_TERMINAL}) AND finished_at IS NOT NULL)"
        f" OR (status NOT IN ({_TERMINAL}) AND finished_at IS NULL)",
        name="finished_iff_terminal",
    ),
    Index("uq_jobs_queue_idempotency_key", "queue", "idempotency_key", unique=True),
)
# The claim reads this index in exactly the claim's ORDER BY (priority DESC, run_at, id), so it
# neither sorts nor locks rows beyond its LIMIT. A sorting plan lets the first worker lock every
# candidate row and SKIP LOCKED then leaves the other workers nothing.
Index("ix_jobs_claim", jobs.c.status, jobs.c.priority.desc(), jobs.c.run_at, jobs.c.id)
# Promotion of due CREATED/FAILED jobs, and recovery of RUNNING ones whose lease expired.
Index("ix_jobs_due", jobs.c.status, jobs.c.run_at, jobs.c.id)
# Pruning of finished jobs (finished_at is set only on SUCCESS, DLQ and CANCELLED).
Index("ix_jobs_finished_at", jobs.c.finished_at)
# Operations (migration 0003). The DLQ's groups are read from the first alone (only DLQ jobs
# have a fingerprint); it leaves the status out, so that a job's status changes do not update
# it (finishing does, once). The listings by status (and queue), newest first, and the counts
# by status and queue read the other one.
Index("ix_jobs_error_fingerprint", jobs.c.error_fingerprint, jobs.c.finished_at)
Index("ix_jobs_status_queue", jobs.c.status, jobs.c.queue, jobs.c.id)

job_attempts = Table(
    "job_attempts",
    metadata,
    Column("job_id", JobId, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("worker_id", String(128)),
    Column("started_at", UtcTimestamp),
    Column("ended_at", UtcTimestamp, nullable=False),
    Column("outcome", String(24), nullable=False),
    Column("error", Text),
    PrimaryKeyConstraint("job_id", "attempt"),
)
# The last hour's attempts (throughput chart, counts) without reading older ones.
Index("ix_job_attempts_ended_at", job_attempts.c.ended_at, job_attempts.c.outcome)
