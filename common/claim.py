"""Claiming jobs, extending and releasing their leases."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Select, select
from sqlalchemy.engine import Connection

from common.db import run_in_transaction, utc_in, utcnow
from common.errors import LeaseLost
from common.models import jobs
from common.states import Status
from common.transitions import ClaimedJob, move


def claim_query(limit: int, queues: Sequence[str] | None = None) -> Select[Any]:
    """The claim's candidates: due SCHEDULED jobs in claim order, locked, skipping locked ones.

    It must read ix_jobs_claim in index order (tests/integration/test_claim_plan.py checks).
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
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if queues:
        query = query.where(jobs.c.queue.in_(queues))
    # On a small table MariaDB prefers ix_jobs_due and a filesort, which locks every due row.
    for dialect in ("mysql", "mariadb"):
        query = query.with_hint(jobs, "FORCE INDEX (ix_jobs_claim)", dialect)
    return query


def claim(
    engine: Engine,
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

    def work(conn: Connection) -> list[ClaimedJob]:
        rows = conn.execute(claim_query(limit, queues)).all()
        token = uuid.uuid4().hex
        moved = move(
            conn,
            [row.id for row in rows],
            frm=Status.SCHEDULED,
            to=Status.RUNNING,
            attempts=jobs.c.attempts + 1,
            lease_token=token,
            locked_by=worker_id,
            locked_until=utc_in(lease_seconds),
            started_at=utcnow(),
        )
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

    return run_in_transaction(engine, work)


def extend_lease(engine: Engine, job: ClaimedJob, seconds: float) -> None:
    """Push the job's lease to ``seconds`` from now; LeaseLost if another worker has it now."""
    if extend_leases(engine, [job], seconds) != 1:
        raise LeaseLost(f"job {job.id}: lease lost")


def extend_leases(engine: Engine, held: Sequence[ClaimedJob], seconds: float) -> int:
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

    return run_in_transaction(engine, work) if held else 0


def release(engine: Engine, claimed: Sequence[ClaimedJob]) -> int:
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

    return run_in_transaction(engine, work) if claimed else 0
