"""Finishing an attempt: SUCCESS, or the retry decision (FAILED with backoff, or DLQ)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import JSON, case, null, type_coerce
from sqlalchemy.engine import Connection

from common.db import Bind, run_in_transaction, utc_in, utcnow
from common.errors import LeaseLost
from common.models import jobs
from common.retry import BackoffPolicy
from common.states import Status
from common.transitions import ClaimedJob, guarded_update, move, record_attempts


class Outcome:
    """What an attempt's handler did; the attempts table stores these names."""

    SUCCESS = "success"
    ERROR = "error"
    PERMANENT_ERROR = "permanent_error"
    LEASE_EXPIRED = "lease_expired"


@dataclass(frozen=True)
class Finished:
    """The end of one attempt: a result, or an error (``permanent`` skips the retries)."""

    job: ClaimedJob
    result: Any = None
    error: str | None = None
    permanent: bool = False


def gives_up(attempt: int, max_attempts: int, *, permanent: bool = False) -> bool:
    """The retry decision: after a failed attempt, does the job go to the DLQ?"""
    return permanent or attempt >= max_attempts


def finish(
    bind: Bind,
    finished: Sequence[Finished],
    backoff: BackoffPolicy,
    rand: Callable[[], float] = random.random,
) -> list[Finished]:
    """Record ``finished`` attempts in one transaction; return those whose lease was lost.

    The fast path writes all of them with a few set-based statements. If any job's lease was
    lost meanwhile, that transaction rolls back and each one is written on its own.
    """
    if not finished:
        return []
    try:
        run_in_transaction(bind, lambda conn: _record(conn, finished, backoff, rand))
        return []
    except LeaseLost:
        pass
    lost = []
    for one in finished:
        try:
            run_in_transaction(bind, partial(_record, finished=[one], backoff=backoff, rand=rand))
        except LeaseLost:
            lost.append(one)
    return lost


def finish_one(
    bind: Bind,
    done: Finished,
    backoff: BackoffPolicy,
    rand: Callable[[], float] = random.random,
) -> None:
    """Record one attempt; raise LeaseLost if the job is no longer this worker's."""
    if finish(bind, [done], backoff, rand):
        raise LeaseLost(f"job {done.job.id}: lease lost, result discarded")


def _record(
    conn: Connection,
    finished: Sequence[Finished],
    backoff: BackoffPolicy,
    rand: Callable[[], float],
) -> None:
    successes = [f for f in finished if f.error is None]
    for token in {f.job.lease_token for f in successes}:
        _record_successes(conn, [f for f in successes if f.job.lease_token == token])
    for failure in (f for f in finished if f.error is not None):
        _record_failure(conn, failure, backoff.delay_seconds(failure.job.attempt, rand))


_SUCCESS_VALUES: dict[str, Any] = {
    "last_error": None,
    "finished_at": utcnow(),
    "lease_token": None,
    "locked_until": None,
}
# The common case (no handler returned a result), built once: it runs for every batch.
_SUCCEED_WITHOUT_RESULTS = guarded_update(
    Status.RUNNING, Status.SUCCESS, fenced=True, result=null(), **_SUCCESS_VALUES
)


def _record_successes(conn: Connection, done: Sequence[Finished]) -> None:
    ids = [f.job.id for f in done]
    fence = done[0].job.lease_token
    if all(f.result is None for f in done):
        moved = conn.execute(_SUCCEED_WITHOUT_RESULTS, {"ids": ids, "fence": fence}).rowcount
    else:
        results = case(
            *((jobs.c.id == f.job.id, type_coerce(f.result, JSON)) for f in done),
            else_=null(),
        )
        moved = move(
            conn,
            ids,
            frm=Status.RUNNING,
            to=Status.SUCCESS,
            fence=fence,
            result=results,
            **_SUCCESS_VALUES,
        )
    if moved != len(ids):
        raise LeaseLost(f"{len(ids) - moved} of jobs {ids} lost their lease")
    record_attempts(conn, ids, Outcome.SUCCESS, None)


def _record_failure(conn: Connection, failure: Finished, delay_seconds: float) -> None:
    job = failure.job
    when: dict[str, Any]
    if gives_up(job.attempt, job.max_attempts, permanent=failure.permanent):
        to, when = Status.DLQ, {"finished_at": utcnow()}
    else:
        to, when = Status.FAILED, {"run_at": utc_in(delay_seconds)}
    moved = move(
        conn,
        [job.id],
        frm=Status.RUNNING,
        to=to,
        fence=job.lease_token,
        last_error=failure.error,
        lease_token=None,
        locked_until=None,
        **when,
    )
    if moved != 1:
        raise LeaseLost(f"job {job.id}: lease lost, error not recorded")
    outcome = Outcome.PERMANENT_ERROR if failure.permanent else Outcome.ERROR
    record_attempts(conn, [job.id], outcome, failure.error)
