"""Claiming jobs, extending and releasing their leases."""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

from sqlalchemy import Integer, Select, bindparam, exists, or_, select
from sqlalchemy.engine import Connection

from common import transitions
from common.db import Bind, force_index, run_in_transaction, utcnow
from common.errors import LeaseLost
from common.models import jobs, queue_settings
from common.queries import queues_of_status
from common.queue_controls import QueueControls, lock_allowance, read_controls, spend
from common.states import Status
from common.transitions import ClaimedJob, expire_past_deadline, release_unstarted, take_leases

OPEN = QueueControls()  # a queue without controls


CANDIDATE_COLUMNS = (
    jobs.c.id,
    jobs.c.type,
    jobs.c.queue,
    jobs.c.payload,
    jobs.c.attempts,
    jobs.c.max_attempts,
    jobs.c.concurrency_key,
    jobs.c.not_after,
    jobs.c.callback_url,
    (jobs.c.not_after <= utcnow()).label("past_deadline"),
)
KEY_ROUNDS = 5  # a per-key limited claim reads again past saturated keys at most this often


@lru_cache(maxsize=2)
def claim_query(excluding: bool = False) -> Select[Any]:
    """The claim's candidates: due SCHEDULED jobs in claim order, locked, skipping locked ones.

    Run with the bind parameter ``limit`` (and ``excluded``, ids the claimer does not want, if
    ``excluding``). It must read ix_jobs_claim in index order (tests/integration/
    test_claim_plan.py checks). Claims that name queues, or that queue controls apply to, go
    queue by queue through ``queue_claim_query``.

    The deadline is not in its WHERE clause: a condition on a column outside ix_jobs_claim
    would make MariaDB lock (and then skip) rows it rejects. The row is read anyway, so the
    query only says whether each candidate is past its deadline; ``claim_in`` cancels those.
    """
    return _forcing(_due_in_claim_order(excluding).add_columns(ANY_CONTROLS), "ix_jobs_claim")


# Whether any queue has stored controls, read with the claim itself: a claim where none has
# them costs no round trip more than before queue controls existed.
ANY_CONTROLS = exists(select(queue_settings.c.queue)).label("any_controls")


@dataclass
class ClaimMode:
    """What a claimer (a worker tick) saw at its last claim: whether queue controls exist.

    While none exist, a claim reads its candidates only, and they say whether some have
    appeared; once some exist, each claim reads them first and goes queue by queue."""

    controlled: bool = False


@lru_cache(maxsize=8)
def queue_claim_query(excluding: bool = False, skip_keys: bool = False) -> Select[Any]:
    """The claim's candidates in the one queue of bind parameter ``queue``, read from
    ix_jobs_queue_claim: the claim locks no row of another queue. With ``skip_keys``, jobs
    whose concurrency_key is in bind parameter ``saturated`` are passed over."""
    query = _due_in_claim_order(excluding).where(jobs.c.queue == bindparam("queue"))
    query = query.add_columns(ANY_CONTROLS)
    if skip_keys:
        saturated = jobs.c.concurrency_key.not_in(bindparam("saturated", expanding=True))
        query = query.where(or_(jobs.c.concurrency_key.is_(None), saturated))
    return _forcing(query, "ix_jobs_queue_claim")


def _due_in_claim_order(excluding: bool) -> Select[Any]:
    query = (
        select(*CANDIDATE_COLUMNS)
        .where(jobs.c.status == Status.SCHEDULED, jobs.c.run_at <= utcnow())
        .order_by(jobs.c.priority.desc(), jobs.c.run_at, jobs.c.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )
    if excluding:
        query = query.where(jobs.c.id.not_in(bindparam("excluded", expanding=True)))
    return query


def _forcing(query: Select[Any], index: str) -> Select[Any]:
    # On a small table MariaDB prefers ix_jobs_due and a filesort, which locks every due row.
    return force_index(query, index)


def claim(
    bind: Bind,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    queues: Sequence[str] | None = None,
    excluding: Collection[int] = (),
    declared: Mapping[str, QueueControls] | None = None,
) -> list[ClaimedJob]:
    """Take up to ``limit`` due SCHEDULED jobs, highest priority then oldest first, and lease them.

    One transaction: the candidates are locked with FOR UPDATE SKIP LOCKED (so concurrent
    workers never wait for, nor get, each other's rows), then updated by primary key. Jobs
    whose ids are in ``excluding`` are passed over. Queue controls (common/queue_controls.py:
    stored, or ``declared`` by the registry) hold back what they say.
    """
    work = partial(
        claim_in,
        worker_id=worker_id,
        limit=limit,
        lease_seconds=lease_seconds,
        queues=queues,
        excluding=excluding,
        declared=declared,
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
    declared: Mapping[str, QueueControls] | None = None,
    mode: ClaimMode | None = None,
) -> list[ClaimedJob]:
    """``claim`` inside the caller's transaction (a worker records its last batch in it too).

    With no queue controls anywhere, one read of ix_jobs_claim in claim order, or of
    ix_jobs_queue_claim for each queue named. With controls, queue by queue (each queue with
    scheduled jobs when none are named), in random order so that no queue always comes first.
    ``mode`` carries what the last claim saw to the next one (see ClaimMode).
    """
    mode = mode or ClaimMode()
    excluded = list(excluding)
    if not (declared or mode.controlled):
        if queues:
            rows = _queue_by_queue(conn, queues, {}, limit, excluded)
        else:
            rows = _candidates(conn, claim_query(bool(excluded)), limit, excluded)
        mode.controlled = bool(rows and rows[0].any_controls)
    if declared or mode.controlled:
        controls = read_controls(conn, declared)
        mode.controlled = bool(controls)
        # Rows the first read locked and this one leaves stay locked until the commit: only on
        # the claim at which controls first appear.
        rows = _queue_by_queue(conn, queues, controls, limit, excluded)
    return take_leases(conn, _in_time(conn, rows), worker_id=worker_id, lease_seconds=lease_seconds)


def _in_time(conn: Connection, rows: Sequence[Any]) -> Sequence[Any]:
    """The candidates still before their deadline; the others are cancelled here and now, so
    that a claim racing the schedule step's sweep cannot start one."""
    if not any(row.past_deadline for row in rows):
        return rows
    expire_past_deadline(conn, [row for row in rows if row.past_deadline])
    return [row for row in rows if not row.past_deadline]


def _candidates(
    conn: Connection, query: Select[Any], limit: int, excluded: list[int], **params: Any
) -> list[Any]:
    if excluded:
        params["excluded"] = excluded
    return list(conn.execute(query, {"limit": limit, **params}).all())


def _queue_by_queue(
    conn: Connection,
    queues: Sequence[str] | None,
    controls: Mapping[str, QueueControls],
    limit: int,
    excluded: list[int],
) -> list[Any]:
    names = list(queues) if queues else queues_of_status(conn, Status.SCHEDULED)
    names = _claim_order([name for name in names if not controls.get(name, OPEN).paused], controls)
    rows: list[Any] = []
    for queue in names:
        wanted = limit - len(rows)
        if wanted <= 0:
            break
        queue_controls = controls.get(queue, OPEN)
        if queue_controls.limited:
            rows += _limited(conn, queue, queue_controls, wanted, excluded)
        else:
            query = queue_claim_query(bool(excluded))
            rows += _candidates(conn, query, wanted, excluded, queue=queue)
    return rows


def _claim_order(names: list[str], controls: Mapping[str, QueueControls]) -> list[str]:
    """The queues in random order, so that none always comes first, except that the limited
    ones (whose rows the claim locks) keep name order among themselves: claims that lock rows
    in one order never deadlock."""
    random.shuffle(names)
    limited = iter(sorted(name for name in names if controls.get(name, OPEN).limited))
    return [next(limited) if controls.get(name, OPEN).limited else name for name in names]


def _limited(
    conn: Connection, queue: str, controls: QueueControls, wanted: int, excluded: list[int]
) -> list[Any]:
    """Candidates of a limited queue, within what its controls allow, under its lock."""
    allowance = lock_allowance(conn, queue, controls, wanted)
    if allowance.jobs <= 0:
        return []
    picked: list[Any] = []
    for _ in range(KEY_ROUNDS):
        saturated, asked = allowance.saturated_keys, allowance.jobs
        seen = excluded + [row.id for row in picked]
        query = queue_claim_query(excluding=bool(seen), skip_keys=bool(saturated))
        skip = {"saturated": saturated} if saturated else {}
        rows = _candidates(conn, query, asked, seen, queue=queue, **skip)
        for row in rows:
            if allowance.jobs > 0 and allowance.may_take(row.concurrency_key):
                picked.append(row)
                allowance.took(row.concurrency_key)
        # Rows passed over for their key stay locked to this claim until it commits; the
        # queue's other claims wait for its row meanwhile, so they lose nothing by it.
        if allowance.jobs == 0 or len(rows) < asked or allowance.per_key is None:
            break
    spend(conn, queue, allowance, len(picked))
    return picked


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
