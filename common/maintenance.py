"""Operator actions: retry or cancel jobs in bulk, and prune finished jobs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, select, true
from sqlalchemy.engine import Connection

from common.db import Bind, force_index, run_in_transaction, utc_in
from common.errors import IllegalTransition, ValidationError
from common.models import job_attempts, jobs
from common.states import Status, check_transition
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

    def given(self) -> dict[str, Any]:
        """The column each given field matches, and its value."""
        fields = {
            "status": self.status,
            "type": self.type,
            "queue": self.queue,
            "error_fingerprint": self.fingerprint,
        }
        return {column: value for column, value in fields.items() if value is not None}

    def clause(self) -> ColumnElement[bool]:
        return and_(true(), *(jobs.c[column] == value for column, value in self.given().items()))


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
    query = prunable(older_than_seconds, batch)

    def work(conn: Connection) -> int:
        ids = list(conn.execute(query).scalars())
        if ids:
            conn.execute(delete(job_attempts).where(job_attempts.c.job_id.in_(ids)))
            conn.execute(delete(jobs).where(jobs.c.id.in_(ids)))
        return len(ids)

    return _until_short(bind, work, batch, max_batches)


def prunable(older_than_seconds: float, batch: int) -> Select[Any]:
    """Prune's locking read: up to ``batch`` jobs finished over ``older_than_seconds`` ago.

    Only terminal jobs have a finished_at (the finished_iff_terminal check), so the index on it
    holds the whole condition: read in its order, the read locks only the rows it deletes.
    """
    return force_index(
        select(jobs.c.id)
        .where(jobs.c.finished_at < utc_in(-older_than_seconds))
        .order_by(jobs.c.finished_at, jobs.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True),
        "ix_jobs_finished_at",
    )


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
            run_in_transaction(bind, partial(_lock_and_move, transition, allowed, match, False))
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
    return _by_filter(bind, transition, sources, where.clause(), batch)


def _by_filter(
    bind: Bind,
    transition: Callable[[Connection, LockedRows], int],
    sources: frozenset[Status],
    match: ColumnElement[bool],
    batch: int,
) -> int:
    """Move the jobs that match, each at most once, in id order up to the highest id there was
    at the start: a job moved and back in ``sources`` before the end is not moved again, and
    jobs that arrive meanwhile are not chased, so the call returns.

    Each batch's ids are read without a lock first (a plain read locks nothing, whatever index
    it reads), then locked by primary key, skipping locked ones: it locks only what it moves.
    """
    matching = and_(match, jobs.c.status.in_(sorted(sources)))
    highest = run_in_transaction(
        bind, lambda conn: conn.execute(select(func.max(jobs.c.id))).scalar()
    )
    total, after = 0, 0
    while highest is not None:
        page = select(jobs.c.id).where(matching, jobs.c.id > after, jobs.c.id <= highest)
        read = partial(_scalars, page.order_by(jobs.c.id).limit(batch))
        ids = run_in_transaction(bind, read)
        if not ids:
            break
        by_ids = and_(match, jobs.c.id.in_(ids))
        total += run_in_transaction(
            bind, partial(_lock_and_move, transition, sources, by_ids, True)
        )
        after = ids[-1]
    return total


def _scalars(query: Select[Any], conn: Connection) -> list[Any]:
    return list(conn.execute(query).scalars())


def _lock_and_move(
    transition: Callable[[Connection, LockedRows], int],
    sources: frozenset[Status],
    match: ColumnElement[bool],
    skip_locked: bool,
    conn: Connection,
) -> int:
    return transition(conn, conn.execute(locked_by_id(match, sources, skip_locked)).all())


def locked_by_id(
    match: ColumnElement[bool], sources: frozenset[Status], skip_locked: bool
) -> Select[Any]:
    """An operator action's locking read: the jobs of ``match``, which names them by id, still
    in ``sources``. Read by primary key, it locks no job it was not given."""
    query = select(*REF_COLUMNS).where(match, jobs.c.status.in_(sorted(sources)))
    return force_index(query.with_for_update(skip_locked=skip_locked), "PRIMARY")


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
