"""The guarded UPDATE through which every status change goes, and the claimed-job record."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, literal, select, update
from sqlalchemy.engine import Connection

from common.db import utcnow
from common.models import job_attempts, jobs
from common.states import Status, check_transition


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds: ``lease_token`` proves the lease is still this worker's."""

    id: int
    type: str
    queue: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    lease_token: str
    worker_id: str


def move(
    conn: Connection,
    ids: Sequence[int],
    *,
    frm: Status | Collection[Status],
    to: Status | None = None,
    fence: str | None = None,
    **values: Any,
) -> int:
    """UPDATE the jobs in ``ids`` that are still in ``frm`` (and hold lease ``fence``).

    With ``to``, the update is a status change, checked against the transition table first.
    Returns how many rows changed; the caller decides what a shortfall means.
    """
    sources = frozenset({frm} if isinstance(frm, Status) else frm)
    if to is not None:
        check_transition(sources, to)
        values["status"] = to
    if not ids:
        return 0
    stmt = update(jobs).where(jobs.c.id.in_(ids), jobs.c.status.in_(sorted(sources)))
    if fence is not None:
        stmt = stmt.where(jobs.c.lease_token == fence)
    return conn.execute(stmt.values(updated_at=utcnow(), **values)).rowcount


def record_attempts(conn: Connection, ids: Sequence[int], outcome: str, error: str | None) -> None:
    """Add one attempt row per job, copied from the job row while this transaction holds it."""
    if not ids:
        return
    attempt_rows = select(
        jobs.c.id,
        jobs.c.attempts,
        jobs.c.locked_by,
        jobs.c.started_at,
        utcnow(),
        literal(outcome),
        literal(error),
    ).where(jobs.c.id.in_(ids))
    columns = ["job_id", "attempt", "worker_id", "started_at", "ended_at", "outcome", "error"]
    conn.execute(insert(job_attempts).from_select(columns, attempt_rows))
