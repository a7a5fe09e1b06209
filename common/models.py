"""The tables, as SQLAlchemy Core. The migrations in common/migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
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
    Column("concurrency_key", String(255)),  # jobs sharing it obey their queue's per-key limit
    Column("created_at", UtcTimestamp, nullable=False),
    Column("updated_at", UtcTimestamp, nullable=False),
    Column("started_at", UtcTimestamp),
    Column("finished_at", UtcTimestamp),
    # A job not started by then never starts: it ends CANCELLED (common/deadlines.py).
    Column("not_after", UtcTimestamp),
    # Where a webhook reports the job's terminal status (common/webhooks.py).
    Column("callback_url", String(2048)),
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
# A claim of one queue reads only that queue's rows (so it locks nothing of another queue), in
# claim order; the queue controls count a queue's RUNNING jobs with it, and list queues by it.
Index(
    "ix_jobs_queue_claim",
    jobs.c.status,
    jobs.c.queue,
    jobs.c.priority.desc(),
    jobs.c.run_at,
    jobs.c.id,
)
# Promotion of due CREATED/FAILED jobs.
Index("ix_jobs_due", jobs.c.status, jobs.c.run_at, jobs.c.id)
# Recovery of RUNNING jobs whose lease expired (migration 0006): both conditions of its locking
# read, so that it locks no job whose lease is still live (their finishes would wait for it).
Index("ix_jobs_lease", jobs.c.status, jobs.c.locked_until)
# Pruning of finished jobs (finished_at is set only on SUCCESS, DLQ and CANCELLED, so the
# index alone holds the whole condition of prune's locking read).
Index("ix_jobs_finished_at", jobs.c.finished_at)
# Jobs past their deadline, for the schedule tick. Not (status, not_after): that index would
# change with every status change of every job, deadline or not; this one only on insert.
Index("ix_jobs_not_after", jobs.c.not_after)
# Operations (migration 0005). The DLQ's groups are read from the first alone (only DLQ jobs
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

# A queue's controls (common/queue_controls.py): a row only for a queue someone has set.
queue_settings = Table(
    "queue_settings",
    metadata,
    Column("queue", String(64), primary_key=True),
    Column("paused", Boolean, nullable=False),
    Column("max_running", Integer),
    Column("max_running_per_key", Integer),
    Column("rate_per_second", Float),
    Column("rate_burst", Integer),
    Column("tokens", Float),  # the rate limit's bucket, as of tokens_at
    Column("tokens_at", UtcTimestamp),
    Column("updated_at", UtcTimestamp, nullable=False),
    Column("updated_by", String(128), nullable=False),
)

# Who changed a queue's controls, when, and to what.
queue_changes = Table(
    "queue_changes",
    metadata,
    Column("id", JobId, primary_key=True, autoincrement=True),
    Column("queue", String(64), nullable=False),
    Column("changed_at", UtcTimestamp, nullable=False),
    Column("changed_by", String(128), nullable=False),
    Column("controls", JSON, nullable=False),
    Index("ix_queue_changes_queue", "queue", "id"),
)

# One row per slot of a recurring schedule that got its job, written in the job's transaction:
# the primary key (name, slot_time) makes any number of schedulers enqueue a slot once.
recurring_slots = Table(
    "recurring_slots",
    metadata,
    Column("name", String(128), nullable=False),
    Column("slot_time", UtcTimestamp, nullable=False),
    Column("job_id", JobId, nullable=False),
    Column("enqueued_at", UtcTimestamp, nullable=False),
    PrimaryKeyConstraint("name", "slot_time"),
    Index("ix_recurring_slots_job_id", "job_id"),
)
# The last hour's attempts (throughput chart, counts) without reading older ones.
Index("ix_job_attempts_ended_at", job_attempts.c.ended_at, job_attempts.c.outcome)
