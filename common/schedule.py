"""The schedule step: jobs past their deadline are cancelled, due jobs become SCHEDULED, and
jobs whose lease expired are recovered.

Each step locks its rows with SKIP LOCKED and changes them by primary key, a bounded batch at
a time, so any number of schedule steps (and idle workers) may run at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Integer, bindparam, select
from sqlalchemy.engine import Connection

from common.db import Bind, force_index, run_in_transaction, utcnow
from common.maintenance import locked_by_id, prune
from common.models import jobs
from common.states import Status
from common.transitions import (
    NOT_STARTED,
    REF_COLUMNS,
    Recovered,
    expire_past_deadline,
    promote,
    recover_expired_leases,
)

DUE = (Status.CREATED, Status.FAILED)


def promote_due(bind: Bind, frm: Status | tuple[Status, ...] = DUE, *, limit: int = 1000) -> int:
    """Move up to ``limit`` due jobs in ``frm`` (CREATED and/or FAILED) to SCHEDULED."""
    sources = (frm,) if isinstance(frm, Status) else frm
    if not set(sources) <= set(DUE):
        raise ValueError(f"only {', '.join(DUE)} jobs become due, not {', '.join(sources)}")

    def work(conn: Connection) -> int:
        # A status at a time: each read follows ix_jobs_due in order and stops at its limit.
        # One read of both would sort them, locking every due job of both to return a few.
        promoted = 0
        for status in sources:
            due = conn.execute(DUE_IN_ORDER, {"status": status, "limit": limit - promoted})
            promoted += promote(conn, due.all())
            if promoted >= limit:
                break
        return promoted

    return run_in_transaction(bind, work)


DUE_IN_ORDER = force_index(
    select(*REF_COLUMNS)
    .where(jobs.c.status == bindparam("status"), jobs.c.run_at <= utcnow())
    .order_by(jobs.c.run_at, jobs.c.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True),
    "ix_jobs_due",
)


# Read from ix_jobs_lease, which holds both conditions: it locks only the jobs it returns, never
# a live lease (tests/integration/test_locking_reads.py).
EXPIRED_LEASES = force_index(
    select(
        *REF_COLUMNS,
        jobs.c.max_attempts,
        jobs.c.started_at,
        jobs.c.not_after,
        utcnow().label("now"),
    )
    .where(jobs.c.status == Status.RUNNING, jobs.c.locked_until < utcnow())
    .order_by(jobs.c.locked_until, jobs.c.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True),
    "ix_jobs_lease",
)


def recover_expired(bind: Bind, *, limit: int = 1000) -> Recovered:
    """Treat up to ``limit`` RUNNING jobs whose lease has expired as failed attempts.

    Each lost attempt is recorded as ``lease_expired``; the job is SCHEDULED again at once (the
    lease already made it wait), or goes to the DLQ when it has no attempts left. An attempt
    whose start was never written may not have begun, and is given back (common/retry.py
    decide_lost).
    """

    def work(conn: Connection) -> Recovered:
        expired = conn.execute(EXPIRED_LEASES, {"limit": limit}).all()
        return recover_expired_leases(conn, expired)

    return run_in_transaction(bind, work)


OVERDUE = (
    select(jobs.c.id)
    .where(jobs.c.not_after <= utcnow(), jobs.c.status.in_(sorted(NOT_STARTED)))
    .order_by(jobs.c.not_after)
    .limit(bindparam("limit", type_=Integer))
)


def expire_overdue(bind: Bind, *, limit: int = 1000) -> int:
    """Cancel up to ``limit`` jobs not started by their deadline (CREATED, SCHEDULED, FAILED
    with not_after passed): set-based, through the expire_past_deadline transition."""

    def work(conn: Connection) -> int:
        # ix_jobs_not_after does not hold the status: a locking read through it would lock
        # the running and finished jobs past their deadline it passes over. So the overdue
        # jobs are found by a plain read, then locked by primary key, their condition checked
        # again.
        ids = conn.execute(OVERDUE, {"limit": limit}).scalars().all()
        if not ids:
            return 0
        still_overdue = jobs.c.id.in_(ids) & (jobs.c.not_after <= utcnow())
        overdue = conn.execute(locked_by_id(still_overdue, NOT_STARTED, skip_locked=True))
        return expire_past_deadline(conn, overdue.all())

    return run_in_transaction(bind, work)


@dataclass
class ScheduleSummary:
    """What one schedule tick did."""

    promoted: int = 0
    retried: int = 0
    recovered: int = 0
    dead_lettered: int = 0
    expired: int = 0  # cancelled: not started by their deadline (or their retry would not be)
    pruned: int = 0


def schedule_tick(
    bind: Bind,
    *,
    budget_seconds: float,
    retention_seconds: float,
    batch: int = 1000,
    clock: Callable[[], float] = time.monotonic,
) -> ScheduleSummary:
    """Cancel jobs past their deadline, recover expired leases and promote due jobs in batches
    until caught up or out of time, then prune one batch of jobs finished more than
    ``retention_seconds`` ago."""
    deadline = clock() + budget_seconds
    summary = ScheduleSummary()
    while True:
        expired = expire_overdue(bind, limit=batch)
        recovered = recover_expired(bind, limit=batch)
        promoted = promote_due(bind, Status.CREATED, limit=batch)
        retried = promote_due(bind, Status.FAILED, limit=batch)
        summary.expired += expired + recovered.cancelled
        summary.recovered += recovered.rescheduled
        summary.dead_lettered += recovered.dead_lettered
        summary.promoted += promoted
        summary.retried += retried
        recovered_all = recovered.rescheduled + recovered.dead_lettered + recovered.cancelled
        caught_up = max(expired, recovered_all, promoted, retried) < batch
        if caught_up or clock() >= deadline:
            break
    summary.pruned = prune(bind, older_than_seconds=retention_seconds, batch=batch, max_batches=1)
    return summary
