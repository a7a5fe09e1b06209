"""The guarded UPDATE through which every status change goes, and the claimed-job record."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, Text, Update, bindparam, insert, select, update
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
    if not ids:
        return 0
    stmt = guarded_update(frm, to, fenced=fence is not None, **values)
    return conn.execute(stmt, {"ids": list(ids), "fence": fence}).rowcount


def guarded_update(
    frm: Status | Collection[Status], to: Status | None = None, *, fenced: bool, **values: Any
) -> Update:
    """The UPDATE behind ``move``, with bind parameters ``ids`` (and ``fence`` if ``fenced``).

    Hot paths build theirs once, at import, and run them with new parameters each time.
    """
    sources = frozenset({frm} if isinstance(frm, Status) else frm)
    if to is not None:
        check_transition(sources, to)
        values["status"] = to
    stmt = update(jobs).where(
        jobs.c.id.in_(bindparam("ids", expanding=True)), jobs.c.status.in_(sorted(sources))
    )
    if fenced:
        stmt = stmt.where(jobs.c.lease_token == bindparam("fence"))
    return stmt.values(updated_at=utcnow(), **values)


def record_attempts(conn: Connection, ids: Sequence[int], outcome: str, error: str | None) -> None:
    """Add one attempt row per job, copied from the job row while this transaction holds it."""
    if ids:
        conn.execute(_ATTEMPT_ROWS, {"ids": list(ids), "outcome": outcome, "error": error})


_ATTEMPT_ROWS = insert(job_attempts).from_select(
    ["job_id", "attempt", "worker_id", "started_at", "ended_at", "outcome", "error"],
    select(
        jobs.c.id,
        jobs.c.attempts,
        jobs.c.locked_by,
        jobs.c.started_at,
        utcnow(),
        bindparam("outcome", type_=String),
        bindparam("error", type_=Text),
    ).where(jobs.c.id.in_(bindparam("ids", expanding=True))),
)
