"""The schedule step: due jobs become SCHEDULED, and jobs whose lease expired are recovered.

Each step locks its rows with SKIP LOCKED and changes them by primary key, a bounded batch at
a time, so any number of schedule steps (and idle workers) may run at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from common.db import Bind, run_in_transaction, utcnow
from common.finish import Outcome, gives_up
from common.maintenance import prune
from common.models import jobs
from common.states import Status
from common.transitions import move, record_attempts

LEASE_EXPIRED = "lease expired: the worker stopped before finishing the attempt"


@dataclass(frozen=True)
class Recovered:
    """Jobs whose lease expired: rescheduled, or dead-lettered when out of attempts."""

    rescheduled: int = 0
    dead_lettered: int = 0


def promote_due(bind: Bind, frm: Status = Status.CREATED, *, limit: int = 1000) -> int:
    """Move up to ``limit`` due jobs in ``frm`` (CREATED or FAILED) to SCHEDULED."""

    def work(conn: Connection) -> int:
        due = (
            select(jobs.c.id)
            .where(jobs.c.status == frm, jobs.c.run_at <= utcnow())
            .order_by(jobs.c.run_at, jobs.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list(conn.execute(due).scalars())
        return move(conn, ids, frm=frm, to=Status.SCHEDULED)

    return run_in_transaction(bind, work)


def recover_expired(bind: Bind, *, limit: int = 1000) -> Recovered:
    """Treat up to ``limit`` RUNNING jobs whose lease has expired as failed attempts.

    The attempt is recorded as ``lease_expired``; the job is SCHEDULED again at once (the
    lease already made it wait), or goes to the DLQ when it has no attempts left.
    """

    def work(conn: Connection) -> Recovered:
        expired = conn.execute(
            select(jobs.c.id, jobs.c.attempts, jobs.c.max_attempts)
            .where(jobs.c.status == Status.RUNNING, jobs.c.locked_until < utcnow())
            .order_by(jobs.c.run_at, jobs.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        ids = [row.id for row in expired]
        record_attempts(conn, ids, Outcome.LEASE_EXPIRED, LEASE_EXPIRED)
        dead = [row.id for row in expired if gives_up(row.attempts, row.max_attempts)]
        retry = [row.id for row in expired if row.id not in set(dead)]
        cleared = {"lease_token": None, "locked_until": None, "last_error": LEASE_EXPIRED}
        return Recovered(
            rescheduled=move(
                conn, retry, frm=Status.RUNNING, to=Status.SCHEDULED, run_at=utcnow(), **cleared
            ),
            dead_lettered=move(
                conn, dead, frm=Status.RUNNING, to=Status.DLQ, finished_at=utcnow(), **cleared
            ),
        )

    return run_in_transaction(bind, work)


@dataclass
class ScheduleSummary:
    """What one schedule tick did."""

    promoted: int = 0
    retried: int = 0
    recovered: int = 0
    dead_lettered: int = 0
    pruned: int = 0


def schedule_tick(
    bind: Bind,
    *,
    budget_seconds: float,
    retention_seconds: float,
    batch: int = 1000,
    clock: Callable[[], float] = time.monotonic,
) -> ScheduleSummary:
    """Recover expired leases and promote due jobs in batches until caught up or out of time,
    then prune one batch of jobs finished more than ``retention_seconds`` ago."""
    deadline = clock() + budget_seconds
    summary = ScheduleSummary()
    while True:
        recovered = recover_expired(bind, limit=batch)
        promoted = promote_due(bind, Status.CREATED, limit=batch)
        retried = promote_due(bind, Status.FAILED, limit=batch)
        summary.recovered += recovered.rescheduled
        summary.dead_lettered += recovered.dead_lettered
        summary.promoted += promoted
        summary.retried += retried
        caught_up = max(recovered.rescheduled + recovered.dead_lettered, promoted, retried) < batch
        if caught_up or clock() >= deadline:
            break
    summary.pruned = prune(bind, older_than_seconds=retention_seconds, batch=batch, max_batches=1)
    return summary
