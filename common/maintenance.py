"""Operator actions: retry or cancel jobs in bulk, and prune finished jobs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import ColumnElement, and_, delete, select, true
from sqlalchemy.engine import Connection

from common.db import Bind, run_in_transaction, utc_in
from common.errors import IllegalTransition, ValidationError
from common.models import job_attempts, jobs
from common.states import TERMINAL, Status, check_transition
from common.transitions import (
    CANCELLABLE,
    REF_COLUMNS,
    RETRYABLE,
    LockedRows,
    operator_cancel,
    operator_retry,
)


@dataclass(frozen=True)
class JobFilter:
    """Which jobs an operator action applies to; ``None`` fields match everything."""

    status: Status | None = None
    type: str | None = None
    queue: str | None = None
    fingerprint: str | None = None  # the DLQ group: common/fingerprint.py

    def clause(self) -> ColumnElement[bool]:
        given = (
            ("status", self.status),
            ("type", self.type),
            ("queue", self.queue),
            ("error_fingerprint", self.fingerprint),
        )
        parts = [jobs.c[name] == value for name, value in given if value is not None]
        return and_(true(), *parts)


def retry_jobs(
    bind: Bind,
    *,
    ids: Sequence[int] | None = None,
    where: JobFilter | None = None,
    batch: int = 1000,
) -> int:
    """Run FAILED and DLQ jobs again now. A DLQ job that used all its attempts gets one more."""
    return _apply(bind, operator_retry, RETRYABLE, Status.SCHEDULED, ids, where, batch)


def cancel_jobs(
    bind: Bind,
    *,
    ids: Sequence[int] | None = None,
    where: JobFilter | None = None,
    batch: int = 1000,
) -> int:
    """Cancel jobs that are not running or finished (CREATED, SCHEDULED, FAILED), or dismiss
    dead-lettered ones (DLQ)."""
    return _apply(bind, operator_cancel, CANCELLABLE, Status.CANCELLED, ids, where, batch)


def prune(
    bind: Bind,
    *,
    older_than_seconds: float,
    batch: int = 1000,
    max_batches: int | None = None,
) -> int:
    """Delete finished jobs (and their attempts) that finished over ``older_than_seconds`` ago,
    ``batch`` per transaction, until none are left (or ``max_batches`` transactions ran)."""

    def work(conn: Connection) -> int:
        ids = list(
            conn.execute(
                select(jobs.c.id)
                .where(
                    jobs.c.finished_at < utc_in(-older_than_seconds),
                    jobs.c.status.in_(sorted(TERMINAL)),
                )
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if ids:
            conn.execute(delete(job_attempts).where(job_attempts.c.job_id.in_(ids)))
            conn.execute(delete(jobs).where(jobs.c.id.in_(ids)))
        return len(ids)

    return _until_short(bind, work, batch, max_batches)


def _apply(
    bind: Bind,
    transition: Callable[[Connection, LockedRows], int],
    allowed: frozenset[Status],
    to: Status,
    ids: Sequence[int] | None,
    where: JobFilter | None,
    batch: int,
) -> int:
    if (ids is None) == (where is None):
        raise ValidationError("give either ids or filter", field="ids")
    if ids is not None:
        chunks = [list(ids[i : i + batch]) for i in range(0, len(ids), batch)]
        by_ids = [jobs.c.id.in_(chunk) for chunk in chunks]
        # Named jobs are waited for (a worker may hold one for a moment), never skipped.
        return sum(
            run_in_transaction(bind, partial(_lock_and_move, transition, allowed, match, None))
            for match in by_ids
        )
    assert where is not None
    sources = allowed
    if where.status is not None:
        check_transition(where.status, to)
        # An edge of the table is not enough: CREATED -> SCHEDULED exists, but is no retry.
        if where.status not in allowed:
            raise IllegalTransition(f"{where.status} jobs cannot be moved to {to} by hand")
        sources = frozenset({where.status})
    work = partial(_lock_and_move, transition, sources, where.clause(), batch)
    return _until_short(bind, work, batch)


def _lock_and_move(
    transition: Callable[[Connection, LockedRows], int],
    sources: frozenset[Status],
    match: ColumnElement[bool],
    batch: int | None,
    conn: Connection,
) -> int:
    """Lock the matching jobs in ``sources`` (up to ``batch``, skipping locked ones), move them."""
    query = select(*REF_COLUMNS).where(match, jobs.c.status.in_(sorted(sources)))
    if batch is None:
        query = query.with_for_update()
    else:
        query = query.order_by(jobs.c.id).limit(batch).with_for_update(skip_locked=True)
    return transition(conn, conn.execute(query).all())


def _until_short(
    bind: Bind,
    work: Callable[[Connection], int],
    batch: int,
    max_batches: int | None = None,
) -> int:
    """Run ``work`` in a transaction per batch until a batch comes back short."""
    total, batches = 0, 0
    while max_batches is None or batches < max_batches:
        done = run_in_transaction(bind, work)
        total, batches = total + done, batches + 1
        if done < batch:
            break
    return total
