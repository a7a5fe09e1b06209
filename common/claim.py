"""Claiming jobs, extending and releasing their leases."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, bindparam, select
from sqlalchemy.engine import Connection

from common.db import Bind, micros, run_in_transaction, utc_in, utcnow
from common.errors import LeaseLost
from common.models import jobs
from common.states import Status
from common.transitions import ClaimedJob, guarded_update, move


@cache
def claim_query(queues: tuple[str, ...] | None = None) -> Select[Any]:
    """The claim's candidates: due SCHEDULED jobs in claim order, locked, skipping locked ones.

    Built once per set of queues; run with the bind parameter ``limit``. It must read
    ix_jobs_claim in index order (tests/integration/test_claim_plan.py checks).
    """
    query = (
        select(
            jobs.c.id,
            jobs.c.type,
            jobs.c.queue,
            jobs.c.payload,
            jobs.c.attempts,
            jobs.c.max_attempts,
        )
        .where(jobs.c.status == Status.SCHEDULED, jobs.c.run_at <= utcnow())
        .order_by(jobs.c.priority.desc(), jobs.c.run_at, jobs.c.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )
    if queues:
        query = query.where(jobs.c.queue.in_(queues))
    # On a small table MariaDB prefers ix_jobs_due and a filesort, which locks every due row.
    for dialect in ("mysql", "mariadb"):
        query = query.with_hint(jobs, "FORCE INDEX (ix_jobs_claim)", dialect)
    return query


def claim(
    bind: Bind,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    queues: Sequence[str] | None = None,
) -> list[ClaimedJob]:
    """Take up to ``limit`` due SCHEDULED jobs, highest priority then oldest first, and lease them.

    One transaction: the candidates are locked with FOR UPDATE SKIP LOCKED (so concurrent
    workers never wait for, nor get, each other's rows), then updated by primary key.
    """

    candidates = claim_query(tuple(queues) if queues else None)

    def work(conn: Connection) -> list[ClaimedJob]:
        rows = conn.execute(candidates, {"limit": limit}).all()
        if not rows:
            return []
        token = uuid.uuid4().hex
        lease = {
            "ids": [row.id for row in rows],
            "token": token,
            "worker_id": worker_id,
            "lease_micros": micros(lease_seconds),
        }
        moved = conn.execute(_TAKE_LEASE, lease).rowcount
        assert moved == len(rows), "rows locked by this transaction changed under it"
        return [
            ClaimedJob(
                row.id,
                row.type,
                row.queue,
                row.payload,
                row.attempts + 1,
                row.max_attempts,
                token,
                worker_id,
            )
            for row in rows
        ]

    return run_in_transaction(bind, work)


# SCHEDULED -> RUNNING for the candidates the claim has locked, by primary key.
_TAKE_LEASE = guarded_update(
    Status.SCHEDULED,
    Status.RUNNING,
    fenced=False,
    attempts=jobs.c.attempts + 1,
    lease_token=bindparam("token"),
    locked_by=bindparam("worker_id"),
    locked_until=utc_in(bindparam("lease_micros", type_=BigInteger)),
    started_at=utcnow(),
)


def extend_lease(bind: Bind, job: ClaimedJob, seconds: float) -> None:
    """Push the job's lease to ``seconds`` from now; LeaseLost if another worker has it now."""
    if extend_leases(bind, [job], seconds) != 1:
        raise LeaseLost(f"job {job.id}: lease lost")


def extend_leases(bind: Bind, held: Sequence[ClaimedJob], seconds: float) -> int:
    """Push the leases of ``held`` jobs to ``seconds`` from now; returns how many were kept."""

    def work(conn: Connection) -> int:
        return sum(
            move(
                conn,
                [job.id for job in held if job.lease_token == token],
                frm=Status.RUNNING,
                fence=token,
                locked_until=utc_in(seconds),
            )
            for token in {job.lease_token for job in held}
        )

    return run_in_transaction(bind, work) if held else 0


def release(bind: Bind, claimed: Sequence[ClaimedJob]) -> int:
    """Hand claimed jobs that were never started back to the queue, as if never claimed."""

    def work(conn: Connection) -> int:
        released = 0
        for token in {job.lease_token for job in claimed}:
            ids = [job.id for job in claimed if job.lease_token == token]
            released += move(
                conn,
                ids,
                frm=Status.RUNNING,
                to=Status.SCHEDULED,
                fence=token,
                attempts=jobs.c.attempts - 1,
                lease_token=None,
                locked_until=None,
            )
        return released

    return run_in_transaction(bind, work) if claimed else 0
