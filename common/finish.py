"""Finishing attempts in batches: SUCCESS, or what the retry decision says (FAILED, DLQ, or
CANCELLED when the retry would start past the job's deadline)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.engine import Connection

from common.db import Bind, run_in_transaction, utcnow
from common.errors import LeaseLost
from common.retry import BackoffPolicy, DeadLetter, PastDeadline, decide
from common.transitions import (
    Finished,
    cancel_past_deadline,
    dead_letter,
    fail_for_retry,
    note_late_end,
    succeed,
)


@dataclass
class Recorded:
    """What became of a batch of finished attempts."""

    succeeded: int = 0
    failed: int = 0  # waiting for a retry
    dead_lettered: int = 0
    cancelled: int = 0  # their retry would have started past their deadline
    lost: list[Finished] = field(default_factory=list)  # their lease had passed to another

    def add(self, other: Recorded) -> None:
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.dead_lettered += other.dead_lettered
        self.cancelled += other.cancelled
        self.lost += other.lost


def finish(
    bind: Bind,
    finished: Sequence[Finished],
    backoff: BackoffPolicy,
    rand: Callable[[], float] = random.random,
) -> Recorded:
    """Record ``finished`` attempts in one transaction, and say what became of them.

    The fast path writes all of them with a few set-based statements. If any job's lease was
    lost meanwhile, that transaction rolls back and each one is written on its own; one whose
    lease was lost is only noted on its lost attempt's row (note_late_end).
    """
    if not finished:
        return Recorded()
    record = partial(record_finished, backoff=backoff, rand=rand)
    try:
        return run_in_transaction(bind, partial(record, finished=finished))
    except LeaseLost:
        pass
    recorded = Recorded()
    for one in finished:
        try:
            recorded.add(run_in_transaction(bind, partial(record, finished=[one])))
        except LeaseLost:
            recorded.lost.append(one)
            run_in_transaction(bind, partial(note_late_end, late=one))
    return recorded


def record_finished(
    conn: Connection,
    finished: Sequence[Finished],
    backoff: BackoffPolicy,
    rand: Callable[[], float] = random.random,
) -> Recorded:
    """Record ``finished`` attempts in ``conn``'s transaction. LeaseLost if any job is no longer
    its worker's: the transaction is then spoilt, and ``finish`` writes them one by one."""
    successes = [f for f in finished if f.error is None]
    recorded = Recorded(succeeded=len(successes))
    if successes:
        succeed(conn, successes)
    for failure in (f for f in finished if f.error is not None):
        job = failure.job
        left = _seconds_to_deadline(conn, failure)
        decision = decide(
            job.attempt, job.max_attempts, failure.outcome, backoff, rand, seconds_to_deadline=left
        )
        if isinstance(decision, DeadLetter):
            dead_letter(conn, failure)
            recorded.dead_lettered += 1
        elif isinstance(decision, PastDeadline):
            cancel_past_deadline(conn, failure)
            recorded.cancelled += 1
        else:
            fail_for_retry(conn, failure, decision.delay_seconds)
            recorded.failed += 1
    return recorded


def _seconds_to_deadline(conn: Connection, failure: Finished) -> float | None:
    """Seconds from the attempt's end (on the database's clock) to the job's not_after."""
    not_after = failure.job.not_after
    if not_after is None:
        return None
    ended: datetime = failure.ended_at or conn.execute(select(utcnow())).scalar_one()
    return (not_after - ended).total_seconds()
