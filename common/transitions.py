"""Every status change a job can make: one named function per edge of common/states.py.

Each function owns the columns its change sets, applies only while the job is still in its
source status (and, once claimed, still holds the caller's lease), and checks how many rows it
changed. When anyone listens, it publishes one TransitionEvent per job after the commit
(common/events.py). No other module issues an UPDATE of ``jobs``.

Every edge into a terminal status (SUCCESS, DLQ, CANCELLED) ends with ``_report_terminal``:
a job that carries a callback_url gets its webhook delivery job in the same transaction, so
a webhook is never lost and never sent for a change that rolled back (common/webhooks.py).
Which jobs carry one is known from the rows the transition was given: no query otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    String,
    Text,
    Update,
    bindparam,
    case,
    func,
    insert,
    literal,
    null,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.selectable import ScalarSelect

from common.db import after_commit, micros, utc_in, utcnow
from common.driver_sql import DriverStatement
from common.errors import LeaseLost
from common.events import TransitionEvent, stream
from common.fingerprint import fingerprint
from common.models import job_attempts, jobs
from common.retry import DeadLetter, Decision, Retry, decide_lost
from common.states import Outcome, Status, check_transition
from common.webhooks import enqueue_deliveries

S = Status
LEASE_EXPIRED = "lease expired: the worker stopped before finishing the attempt"
START_UNKNOWN = (
    "lease expired: the worker stopped before writing this attempt's start, so it may never "
    "have begun; the attempt is given back"
)
DEADLINE_PASSED = "deadline passed: not started by its not_after"
# A stale worker's end, noted on its lost attempt: the attempt after it decides the outcome.
LATE_END = "its worker ended it after the lease had passed on, too late to count"
# The columns a caller selects (FOR UPDATE) to hand rows to the transitions that take rows.
REF_COLUMNS = (
    jobs.c.id,
    jobs.c.queue,
    jobs.c.type,
    jobs.c.status,
    jobs.c.attempts,
    jobs.c.callback_url,
)
LockedRows = Sequence[Any]  # rows with REF_COLUMNS (at least), as a locking SELECT returns them


@dataclass(frozen=True, slots=True)
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
    not_after: datetime | None = None  # its deadline: a retry must start before it
    has_callback: bool = False  # a webhook reports its terminal status


@dataclass(frozen=True, slots=True)
class Finished:
    """The end of one attempt: a result, or an error (``permanent`` skips the retries,
    ``timed_out`` says the worker gave up on it). Times are on the database's clock; without
    them the attempt is recorded as started when claimed and ended when written."""

    job: ClaimedJob
    result: Any = None
    error: str | None = None
    permanent: bool = False
    timed_out: bool = False
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None

    @property
    def outcome(self) -> Outcome:
        if self.error is None:
            return Outcome.SUCCESS
        if self.timed_out:
            return Outcome.TIMEOUT
        return Outcome.PERMANENT_ERROR if self.permanent else Outcome.ERROR


@dataclass(frozen=True)
class Recovered:
    """Jobs whose lease expired: rescheduled, or dead-lettered when out of attempts."""

    rescheduled: int = 0
    dead_lettered: int = 0
    cancelled: int = 0  # their retry would have started past their deadline


# --- SCHEDULED -> RUNNING, and the lease while it runs ------------------------------------


def take_leases(
    conn: Connection, candidates: LockedRows, *, worker_id: str, lease_seconds: float
) -> list[ClaimedJob]:
    """SCHEDULED -> RUNNING for claim candidates this transaction has locked, under one lease.

    ``candidates`` carry id, type, queue, payload, attempts, max_attempts, not_after and
    callback_url. The claim counts the attempt; a job its worker releases unstarted gives it
    back, and so does recovery of one whose start was never written (decide_lost).
    """
    if not candidates:
        return []
    token = uuid.uuid4().hex
    lease = {
        "ids": [row.id for row in candidates],
        "token": token,
        "worker_id": worker_id,
        "lease_micros": micros(lease_seconds),
    }
    _expect_all(_TAKE_LEASE.execute(conn, lease).rowcount, candidates)
    claimed = [
        ClaimedJob(
            row.id,
            row.type,
            row.queue,
            row.payload,
            row.attempts + 1,
            row.max_attempts,
            token,
            worker_id,
            row.not_after,
            row.callback_url is not None,
        )
        for row in candidates
    ]
    _publish(conn, lambda: [_event("take_lease", job, S.SCHEDULED, S.RUNNING) for job in claimed])
    return claimed


def extend_leases(conn: Connection, held: Sequence[ClaimedJob], seconds: float) -> int:
    """Push the leases of ``held`` jobs to ``seconds`` from now; returns how many were kept."""
    return sum(
        _EXTEND_LEASE.execute(
            conn, {"ids": ids, "fence": token, "lease_micros": micros(seconds)}
        ).rowcount
        for token, ids in _by_lease(held).items()
    )


def mark_started(conn: Connection, started: Sequence[ClaimedJob]) -> int:
    """Note in the job rows that these attempts have begun (started_at, to the database's now),
    so that recovery can tell a started attempt from a job that was only claimed."""
    return sum(
        _MARK_STARTED.execute(conn, {"ids": ids, "fence": token}).rowcount
        for token, ids in _by_lease(started).items()
    )


def release_unstarted(conn: Connection, claimed: Sequence[ClaimedJob]) -> int:
    """RUNNING -> SCHEDULED for claimed jobs never started: as if they had not been claimed."""
    held: set[int] = set()
    for token, ids in _by_lease(claimed).items():
        # Locked first, so that the events name exactly the jobs that were still ours.
        ours = list(conn.execute(_HELD, {"ids": ids, "fence": token}).scalars())
        if ours:
            _expect_all(conn.execute(_RELEASE, {"ids": ours, "fence": token}).rowcount, ours)
        held.update(ours)
    released = [job for job in claimed if job.id in held]
    _publish(conn, lambda: [_event("release", job, S.RUNNING, S.SCHEDULED) for job in released])
    return len(released)


# --- RUNNING -> SUCCESS, FAILED or DLQ: the end of an attempt -----------------------------


def succeed(conn: Connection, done: Sequence[Finished]) -> None:
    """RUNNING -> SUCCESS, storing each result; LeaseLost if any job is no longer ours."""
    _record_attempts(conn, done)
    for token, ids in _by_lease([f.job for f in done]).items():
        ours = [f for f in done if f.job.lease_token == token]
        if all(f.result is None for f in ours):
            moved = _SUCCEED_WITHOUT_RESULTS.execute(conn, {"ids": ids, "fence": token}).rowcount
        else:
            results = case(
                *((jobs.c.id == f.job.id, type_coerce(f.result, JSON)) for f in ours),
                else_=null(),
            )
            stmt = _guarded(S.RUNNING, S.SUCCESS, fenced=True, result=results, **_SUCCESS_VALUES)
            moved = conn.execute(stmt, {"ids": ids, "fence": token}).rowcount
        if moved != len(ids):
            raise LeaseLost(f"{len(ids) - moved} of jobs {ids} lost their lease")
    _report_terminal(conn, [f.job.id for f in done if f.job.has_callback])
    _publish(conn, lambda: [_finished_event("succeed", f, S.SUCCESS) for f in done])


def fail_for_retry(conn: Connection, failure: Finished, delay_seconds: float) -> None:
    """RUNNING -> FAILED: the job waits ``delay_seconds`` for its next attempt."""
    _end_attempt(conn, failure, S.FAILED, run_at=utc_in(delay_seconds))
    _publish(conn, lambda: [_finished_event("fail_for_retry", failure, S.FAILED)])


def dead_letter(conn: Connection, failure: Finished) -> None:
    """RUNNING -> DLQ: a permanent error, or the last attempt failed. The error's fingerprint
    (common/fingerprint.py) is stored with it, for the DLQ's groups."""
    dlq_key = fingerprint(failure.job.type, failure.error)
    _end_attempt(conn, failure, S.DLQ, finished_at=_ATTEMPT_ENDED, error_fingerprint=dlq_key)
    _report_terminal(conn, [failure.job.id] if failure.job.has_callback else [])
    _publish(conn, lambda: [_finished_event("dead_letter", failure, S.DLQ)])


def cancel_past_deadline(conn: Connection, failure: Finished) -> None:
    """RUNNING -> CANCELLED: the attempt failed and its retry would start past not_after."""
    why = f"{DEADLINE_PASSED}: its retry would start after it; the last attempt: {failure.error}"
    _end_attempt(conn, failure, S.CANCELLED, error=why, finished_at=_ATTEMPT_ENDED)
    _report_terminal(conn, [failure.job.id] if failure.job.has_callback else [])
    _publish(conn, lambda: [_finished_event("cancel_past_deadline", failure, S.CANCELLED)])


def _end_attempt(
    conn: Connection, failure: Finished, to: Status, error: str | None = None, **when: Any
) -> None:
    job = failure.job
    _record_attempts(conn, [failure])
    stmt = _guarded(
        S.RUNNING,
        to,
        fenced=True,
        last_error=error or failure.error,
        started_at=_ATTEMPT_STARTED,
        **_END_LEASE,
        **when,
    )
    if conn.execute(stmt, {"ids": [job.id], "fence": job.lease_token}).rowcount != 1:
        raise LeaseLost(f"job {job.id}: lease lost, error not recorded")


# --- RUNNING -> SCHEDULED or DLQ when a lease expired ---------------------------------------


def recover_expired_leases(conn: Connection, expired: LockedRows) -> Recovered:
    """Recover locked RUNNING jobs whose lease expired (rows carry REF_COLUMNS, max_attempts,
    started_at, not_after and the database's ``now``). Each lost attempt is recorded
    (``lease_expired``) and the job retried, dead-lettered or (past its deadline) cancelled as
    the retry decision says (decide_lost). An attempt whose start was never written may not
    have begun: its row has no start, and the job gets that attempt back."""
    uncounted_before = _uncounted_losses(conn, [row for row in expired if row.started_at is None])
    decided = {row.id: _lease_expired_decision(row, uncounted_before) for row in expired}

    groups: dict[str, list[Any]] = {"retry": [], "given_back": [], "dead": [], "late": []}
    for row in expired:
        groups[_group(decided[row.id])].append(row)
    retry, given_back, dead, late = (
        groups[name] for name in ("retry", "given_back", "dead", "late")
    )
    _record_lost_attempts(conn, [row for row in expired if row not in given_back], LEASE_EXPIRED)
    _record_lost_attempts(conn, given_back, START_UNKNOWN)
    lost = {"last_error": LEASE_EXPIRED, **_END_LEASE}
    late_error = f"{DEADLINE_PASSED}: its retry would start after it; {LEASE_EXPIRED}"
    _expect_all(_by_ids(conn, _RECOVER_RETRY, retry, **lost), retry)
    back = {**lost, "last_error": START_UNKNOWN}
    _expect_all(_by_ids(conn, _RECOVER_GIVEN_BACK, given_back, **back), given_back)
    for job_type, of_type in _by_type(dead).items():
        dlq_key = fingerprint(job_type, LEASE_EXPIRED)
        moved = _by_ids(conn, _RECOVER_DEAD, of_type, error_fingerprint=dlq_key, **lost)
        _expect_all(moved, of_type)
    _expect_all(_by_ids(conn, _RECOVER_LATE, late, **{**lost, "last_error": late_error}), late)
    _report_terminal(conn, [row.id for row in dead + late if row.callback_url is not None])
    _publish(
        conn,
        lambda: (
            [
                _row_event("recover_lease", row, S.SCHEDULED, Outcome.LEASE_EXPIRED)
                for row in retry + given_back
            ]
            + [_row_event("recover_lease", row, S.DLQ, Outcome.LEASE_EXPIRED) for row in dead]
            + [_row_event("recover_lease", row, S.CANCELLED, Outcome.LEASE_EXPIRED) for row in late]
        ),
    )
    return Recovered(
        rescheduled=len(retry) + len(given_back), dead_lettered=len(dead), cancelled=len(late)
    )


def _group(decision: Decision) -> str:
    if isinstance(decision, Retry):
        return "given_back" if decision.uncounted else "retry"
    return "dead" if isinstance(decision, DeadLetter) else "late"


def _record_lost_attempts(conn: Connection, rows: Sequence[Any], error: str) -> None:
    if rows:
        conn.execute(_LEASE_EXPIRED_ATTEMPTS, {"ids": [row.id for row in rows], "error": error})


def _uncounted_losses(conn: Connection, rows: Sequence[Any]) -> dict[int, int]:
    """How many attempts of each job were lost before their start was written."""
    if not rows:
        return {}
    query = (
        select(job_attempts.c.job_id, func.count())
        .where(
            job_attempts.c.job_id.in_([row.id for row in rows]),
            job_attempts.c.outcome == Outcome.LEASE_EXPIRED,
            job_attempts.c.started_at.is_(None),
        )
        .group_by(job_attempts.c.job_id)
    )
    return {job_id: count for job_id, count in conn.execute(query).all()}


def note_late_end(conn: Connection, late: Finished) -> int:
    """A stale worker's end of an attempt whose lease expired meanwhile: it changes nothing,
    but the attempt's ``lease_expired`` row says it ran to an end, and that what a later
    attempt (or recovery) made of the job stands. Returns 1 if that row was found."""
    job = late.job
    note = f"{LEASE_EXPIRED}; {LATE_END} ({late.outcome})"
    stmt = (
        update(job_attempts)
        .where(
            job_attempts.c.job_id == job.id,
            job_attempts.c.attempt == job.attempt,
            job_attempts.c.worker_id == job.worker_id,
            job_attempts.c.outcome == Outcome.LEASE_EXPIRED,
        )
        .values(error=note)
    )
    return conn.execute(stmt).rowcount


def _lease_expired_decision(row: Any, uncounted_before: dict[int, int]) -> Decision:
    not_after, now = getattr(row, "not_after", None), getattr(row, "now", None)
    left = None if not_after is None or now is None else (not_after - now).total_seconds()
    return decide_lost(
        row.attempts,
        row.max_attempts,
        start_written=row.started_at is not None,
        uncounted_before=uncounted_before.get(row.id, 0),
        seconds_to_deadline=left,
    )


# --- CREATED or FAILED -> SCHEDULED: due --------------------------------------------------


def promote(conn: Connection, due: LockedRows) -> int:
    """CREATED or FAILED -> SCHEDULED for locked rows whose run_at has come."""
    _expect_all(_by_ids(conn, _PROMOTE, due), due)
    _publish(conn, lambda: [_row_event("promote", row, S.SCHEDULED) for row in due])
    return len(due)


# --- By hand: an operator's retry or cancel -----------------------------------------------

RETRYABLE = frozenset({S.FAILED, S.DLQ})
NOT_STARTED = frozenset({S.CREATED, S.SCHEDULED, S.FAILED})  # what a deadline can cancel
CANCELLABLE = NOT_STARTED | {S.DLQ}


def operator_retry(conn: Connection, rows: LockedRows) -> int:
    """FAILED or DLQ -> SCHEDULED now. A DLQ job that used all its attempts gets one more."""
    _expect_all(_by_ids(conn, _OPERATOR_RETRY, rows), rows)
    _publish(conn, lambda: [_row_event("operator_retry", row, S.SCHEDULED) for row in rows])
    return len(rows)


def operator_cancel(conn: Connection, rows: LockedRows) -> int:
    """CREATED, SCHEDULED, FAILED or DLQ -> CANCELLED: it will not run (again)."""
    _expect_all(_by_ids(conn, _OPERATOR_CANCEL, rows), rows)
    _report_terminal(conn, [row.id for row in rows if row.callback_url is not None])
    _publish(conn, lambda: [_row_event("operator_cancel", row, S.CANCELLED) for row in rows])
    return len(rows)


# --- Past the deadline: a job not started by its not_after never starts -------------------


def expire_past_deadline(conn: Connection, rows: LockedRows) -> int:
    """CREATED, SCHEDULED or FAILED -> CANCELLED for locked rows whose not_after has passed
    (the schedule step's sweep, and a claim that found such a job among its candidates)."""
    _expect_all(_by_ids(conn, _EXPIRE, rows), rows)
    _report_terminal(conn, [row.id for row in rows if row.callback_url is not None])
    _publish(conn, lambda: [_deadline_event(row) for row in rows])
    return len(rows)


# --- The guarded UPDATE, the attempt rows and the events ----------------------------------


def _guarded(
    frm: Status | Collection[Status], to: Status | None = None, *, fenced: bool, **values: Any
) -> Update:
    """UPDATE the jobs in bind parameter ``ids`` still in ``frm`` (holding lease ``fence``)."""
    sources = frozenset({frm} if isinstance(frm, Status) else frm)
    if to is not None:
        check_transition(sources, to)
        values["status"] = to
    stmt = update(jobs).where(
        jobs.c.id.in_(bindparam("ids", expanding=True, literal_execute=True)),
        jobs.c.status.in_(sorted(sources)),
    )
    if fenced:
        stmt = stmt.where(jobs.c.lease_token == bindparam("fence"))
    # By primary key: left to itself MariaDB may read an index led by the status, and lock
    # every job in that status (an UPDATE locks each row it reads, until commit).
    for dialect in ("mysql", "mariadb"):
        stmt = stmt.with_hint("FORCE INDEX (PRIMARY)", dialect_name=dialect)
    return stmt.values(updated_at=utcnow(), **values)


def _this_attempt(column: Column[Any]) -> ScalarSelect[Any]:
    """The job's current attempt's ``column``, for an UPDATE of jobs to copy."""
    return (
        select(column)
        .where(job_attempts.c.job_id == jobs.c.id, job_attempts.c.attempt == jobs.c.attempts)
        .scalar_subquery()
    )


_ATTEMPT_STARTED = _this_attempt(job_attempts.c.started_at)
_ATTEMPT_ENDED = _this_attempt(job_attempts.c.ended_at)


_END_LEASE: dict[str, Any] = {"lease_token": None, "locked_until": None}
_SUCCESS_VALUES: dict[str, Any] = {
    "last_error": None,
    "started_at": _ATTEMPT_STARTED,
    "finished_at": _ATTEMPT_ENDED,
    **_END_LEASE,
}
_LEASE_UNTIL = utc_in(bindparam("lease_micros", type_=BigInteger))
# The hot statements are built once, at import, and run with new parameters each time.
# The worker's writes for every batch are DriverStatements (common/driver_sql.py).
_TAKE_LEASE = DriverStatement(
    _guarded(
        S.SCHEDULED,
        S.RUNNING,
        fenced=False,
        attempts=jobs.c.attempts + 1,
        lease_token=bindparam("token"),
        locked_by=bindparam("worker_id"),
        locked_until=_LEASE_UNTIL,
        started_at=None,  # set when the attempt starts: mark_started, or when it is recorded
    )
)
_EXTEND_LEASE = DriverStatement(_guarded(S.RUNNING, fenced=True, locked_until=_LEASE_UNTIL))
_MARK_STARTED = DriverStatement(_guarded(S.RUNNING, fenced=True, started_at=utcnow()))
_HELD = (
    select(jobs.c.id)
    .where(
        jobs.c.id.in_(bindparam("ids", expanding=True, literal_execute=True)),
        jobs.c.status == S.RUNNING,
        jobs.c.lease_token == bindparam("fence"),
    )
    .with_for_update()
)
_UNCLAIMED: dict[str, Any] = {"attempts": jobs.c.attempts - 1, "started_at": None, **_END_LEASE}
_RELEASE = _guarded(S.RUNNING, S.SCHEDULED, fenced=True, **_UNCLAIMED)
_SUCCEED_WITHOUT_RESULTS = DriverStatement(
    _guarded(S.RUNNING, S.SUCCESS, fenced=True, result=null(), **_SUCCESS_VALUES)
)
_RECOVER_RETRY = _guarded(S.RUNNING, S.SCHEDULED, fenced=False, run_at=utcnow())
_RECOVER_DEAD = _guarded(S.RUNNING, S.DLQ, fenced=False, finished_at=utcnow())
_RECOVER_GIVEN_BACK = _guarded(
    S.RUNNING, S.SCHEDULED, fenced=False, run_at=utcnow(), max_attempts=jobs.c.max_attempts + 1
)
_PROMOTE = _guarded({S.CREATED, S.FAILED}, S.SCHEDULED, fenced=False)
_ONE_MORE_IF_EXHAUSTED: ColumnElement[int] = case(
    (jobs.c.attempts >= jobs.c.max_attempts, jobs.c.attempts + 1), else_=jobs.c.max_attempts
)
_OPERATOR_RETRY = _guarded(
    RETRYABLE,
    S.SCHEDULED,
    fenced=False,
    run_at=utcnow(),
    finished_at=None,
    max_attempts=_ONE_MORE_IF_EXHAUSTED,
    error_fingerprint=None,  # only a job in the DLQ has one: the DLQ's groups count on it
)
_OPERATOR_CANCEL = _guarded(
    CANCELLABLE, S.CANCELLED, fenced=False, finished_at=utcnow(), error_fingerprint=None
)
_EXPIRE = _guarded(
    NOT_STARTED, S.CANCELLED, fenced=False, finished_at=utcnow(), last_error=DEADLINE_PASSED
)
_RECOVER_LATE = _guarded(S.RUNNING, S.CANCELLED, fenced=False, finished_at=utcnow())


def _by_ids(conn: Connection, stmt: Update, rows: LockedRows, **values: Any) -> int:
    if not rows:
        return 0
    return conn.execute(stmt.values(**values), {"ids": [row.id for row in rows]}).rowcount


def _by_lease(claimed: Sequence[ClaimedJob]) -> dict[str, list[int]]:
    """Job ids by lease token: one fenced UPDATE per lease."""
    ids: dict[str, list[int]] = {}
    for job in claimed:
        ids.setdefault(job.lease_token, []).append(job.id)
    return ids


def _by_type(rows: LockedRows) -> dict[str, list[Any]]:
    of_type: dict[str, list[Any]] = {}
    for row in rows:
        of_type.setdefault(row.type, []).append(row)
    return of_type


def _expect_all(moved: int, rows: Sequence[object]) -> None:
    if moved != len(rows):  # the rows are locked by this transaction: nothing else can move them
        raise RuntimeError(f"{len(rows) - moved} of {len(rows)} locked jobs changed under us")


def _record_attempts(conn: Connection, done: Sequence[Finished]) -> None:
    """Write each attempt's row with its own start and end. A stale worker's row may collide
    with the one recovery wrote for the same attempt: its lease is lost.

    The rows are plain values, so that the driver sends them as one multi-row INSERT; a time
    the worker did not give is the database's now.
    """
    now = None
    if any(f.started_at is None or f.ended_at is None for f in done):
        now = conn.execute(select(utcnow())).scalar_one()
    rows = [
        {
            "job_id": f.job.id,
            "attempt": f.job.attempt,
            "worker_id": f.job.worker_id,
            "started_at": f.started_at or now,
            "ended_at": f.ended_at or now,
            "outcome": f.outcome,
        }
        for f in done
    ]
    if any(f.error is not None for f in done):  # else the column is left out: one value less
        for row, f in zip(rows, done, strict=True):
            row["error"] = f.error
    try:  # the clash spoils the transaction (PostgreSQL aborts it): it is rolled back whole
        _ATTEMPT_ROW.execute_many(conn, rows)
    except IntegrityError:
        ids = [f.job.id for f in done]
        raise LeaseLost(f"jobs {ids}: an attempt of theirs was recorded already") from None


_ATTEMPT_ROW = DriverStatement(insert(job_attempts))
_LEASE_EXPIRED_ATTEMPTS = insert(job_attempts).from_select(
    ["job_id", "attempt", "worker_id", "started_at", "ended_at", "outcome", "error"],
    select(
        jobs.c.id,
        jobs.c.attempts,
        jobs.c.locked_by,
        jobs.c.started_at,
        utcnow(),
        literal(Outcome.LEASE_EXPIRED.value, String),
        bindparam("error", type_=Text),
    ).where(jobs.c.id.in_(bindparam("ids", expanding=True, literal_execute=True))),
)


def _report_terminal(conn: Connection, with_callback: list[int]) -> None:
    """Jobs this transaction just made terminal that carry a callback_url get their webhook."""
    if with_callback:
        enqueue_deliveries(conn, with_callback)


def _publish(conn: Connection, events: Callable[[], list[TransitionEvent]]) -> None:
    """Publish the events after this transaction commits; build none when nobody listens."""
    if not stream.active:
        after_commit(conn)  # a transaction that could publish them, all the same
        return
    built = events()
    after_commit(conn, lambda: stream.publish(built))


def _event(name: str, job: ClaimedJob, frm: Status, to: Status) -> TransitionEvent:
    return TransitionEvent(
        name, job.id, job.queue, job.type, job.attempt, frm, to, worker_id=job.worker_id
    )


def _finished_event(name: str, done: Finished, to: Status) -> TransitionEvent:
    job = done.job
    return TransitionEvent(
        name,
        job.id,
        job.queue,
        job.type,
        job.attempt,
        S.RUNNING,
        to,
        done.outcome,
        done.error,
        done.duration_seconds,
        job.worker_id,
    )


def _deadline_event(row: Any) -> TransitionEvent:
    return TransitionEvent(
        "expire_past_deadline",
        row.id,
        row.queue,
        row.type,
        row.attempts,
        Status(row.status),
        S.CANCELLED,
        error=DEADLINE_PASSED,
    )


def _row_event(name: str, row: Any, to: Status, outcome: Outcome | None = None) -> TransitionEvent:
    error = LEASE_EXPIRED if outcome == Outcome.LEASE_EXPIRED else None
    return TransitionEvent(
        name, row.id, row.queue, row.type, row.attempts, Status(row.status), to, outcome, error
    )
