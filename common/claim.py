"""Claiming jobs, extending and releasing their leases."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import lru_cache, partial
from typing import Any

from sqlalchemy import Integer, Select, bindparam, select
from sqlalchemy.engine import Connection

from common import transitions
from common.db import Bind, run_in_transaction, utcnow
from common.errors import LeaseLost
from common.models import jobs
from common.states import Status
from common.transitions import ClaimedJob, expire_past_deadline, release_unstarted, take_leases


@lru_cache(maxsize=64)  # one per set of queues a worker asks for; bounded all the same
def claim_query(queues: tuple[str, ...] | None = None, excluding: bool = False) -> Select[Any]:
    """The claim's candidates: due SCHEDULED jobs in claim order, locked, skipping locked ones.

    Built once per set of queues; run with the bind parameter ``limit`` (and ``excluded``, ids
    the claimer does not want, if ``excluding``). It must read ix_jobs_claim in index order
    (tests/integration/test_claim_plan.py checks).

    The deadline is not in its WHERE clause: a condition on a column outside ix_jobs_claim
    would make MariaDB lock (and then skip) rows it rejects. The row is read anyway, so the
    query only says whether each candidate is past its deadline; ``claim_in`` cancels those.
    """
    query = (
        select(
            jobs.c.id,
            jobs.c.type,
            jobs.c.queue,
            jobs.c.payload,
            jobs.c.attempts,
            jobs.c.max_attempts,
            jobs.c.not_after,
            jobs.c.callback_url,
            (jobs.c.not_after <= utcnow()).label("past_deadline"),
        )
        .where(jobs.c.status == Status.SCHEDULED, jobs.c.run_at <= utcnow())
        .order_by(jobs.c.priority.desc(), jobs.c.run_at, jobs.c.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )
    if queues:
        query = query.where(jobs.c.queue.in_(queues))
    if excluding:
        query = query.where(jobs.c.id.not_in(bindparam("excluded", expanding=True)))
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
    excluding: Collection[int] = (),
) -> list[ClaimedJob]:
    """Take up to ``limit`` due SCHEDULED jobs, highest priority then oldest first, and lease them.

    One transaction: the candidates are locked with FOR UPDATE SKIP LOCKED (so concurrent
    workers never wait for, nor get, each other's rows), then updated by primary key. Jobs
    whose ids are in ``excluding`` are passed over.
    """
    work = partial(
        claim_in,
        worker_id=worker_id,
        limit=limit,
        lease_seconds=lease_seconds,
        queues=queues,
        excluding=excluding,
    )
    return run_in_transaction(bind, work)


def claim_in(
    conn: Connection,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    queues: Sequence[str] | None = None,
    excluding: Collection[int] = (),
) -> list[ClaimedJob]:
    """``claim`` inside the caller's transaction (a worker records its last batch in it too)."""
    candidates = claim_query(tuple(queues) if queues else None, bool(excluding))
    params = {"limit": limit, "excluded": list(excluding)} if excluding else {"limit": limit}
    rows = conn.execute(candidates, params).all()
    return take_leases(conn, _in_time(conn, rows), worker_id=worker_id, lease_seconds=lease_seconds)


def _in_time(conn: Connection, rows: Sequence[Any]) -> Sequence[Any]:
    """The candidates still before their deadline; the others are cancelled here and now, so
    that a claim racing the schedule step's sweep cannot start one."""
    if not any(row.past_deadline for row in rows):
        return rows
    expire_past_deadline(conn, [row for row in rows if row.past_deadline])
    return [row for row in rows if not row.past_deadline]


def extend_lease(bind: Bind, job: ClaimedJob, seconds: float) -> None:
    """Push the job's lease to ``seconds`` from now; LeaseLost if another worker has it now."""
    if extend_leases(bind, [job], seconds) != 1:
        raise LeaseLost(f"job {job.id}: lease lost")


def extend_leases(bind: Bind, held: Sequence[ClaimedJob], seconds: float) -> int:
    """Push the leases of ``held`` jobs to ``seconds`` from now; returns how many were kept."""
    if not held:
        return 0
    return run_in_transaction(bind, partial(transitions.extend_leases, held=held, seconds=seconds))


def release(bind: Bind, claimed: Sequence[ClaimedJob]) -> int:
    """Hand claimed jobs that were never started back to the queue, as if never claimed."""
    if not claimed:
        return 0
    return run_in_transaction(bind, partial(release_unstarted, claimed=claimed))
