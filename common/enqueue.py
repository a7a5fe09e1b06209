"""Adding jobs inside the caller's own transaction: a rolled-back transaction leaves no job.

Every job goes through its type's rules here, whoever adds it (POST /jobs, an application's
own code, the scheduler): the type must be known, the payload must fit its schema, and what
the caller left out comes from the type's defaults, then from the settings (MAX_ATTEMPTS).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeGuard

from sqlalchemy import BigInteger, Column, bindparam, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from common.db import is_retryable, micros, utc_in, utcnow
from common.errors import SubmissionConflict, ValidationError
from common.handlers.catalog import default_registry
from common.handlers.registry import Registry
from common.handlers.webhook import WEBHOOK_TYPE, check_url_form
from common.models import UtcTimestamp, jobs
from common.states import Status

NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
DEFAULT_QUEUE = "default"
INT32 = 2**31 - 1
MAX_DELAY_SECONDS = 366 * 24 * 3600
MAX_ATTEMPTS_LIMIT = 100
# What every supported database stores as a time (MariaDB's DATETIME starts at year 1000).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class NewJob:
    """A job to add. Without ``run_at`` or ``delay_seconds`` it is due at once.

    ``queue``, ``priority`` and ``max_attempts`` left as None take the job type's defaults.
    ``not_after`` (or ``expires_in_seconds`` from now) is its deadline: not started by then,
    it never starts. ``callback_url`` gets a signed webhook when it reaches a terminal status.
    """

    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: int | None = None
    run_at: datetime | None = None
    delay_seconds: float | None = None
    max_attempts: int | None = None
    idempotency_key: str | None = None
    concurrency_key: str | None = None  # see max_running_per_key in common/queue_controls.py
    not_after: datetime | None = None
    expires_in_seconds: float | None = None
    callback_url: str | None = None

    def with_type_rules(self, registry: Registry) -> NewJob:
        """This job, checked against its type and completed with its defaults; the job is
        returned valid (see ``validate``) or ValidationError names the offending field."""
        _check(isinstance(self.type, str), "type", "is required: the name of a job type")
        _check(
            self.type != WEBHOOK_TYPE,
            "type",
            f"{WEBHOOK_TYPE!r} jobs are made by skiplock itself: give a job a callback_url",
        )
        job_type = registry.get(self.type)
        _check(isinstance(self.payload, dict), "payload", "must be a JSON object")
        job_type.parse_payload(self.payload)
        valid = replace(
            self,
            queue=_given(self.queue, job_type.queue, DEFAULT_QUEUE),
            priority=_given(self.priority, job_type.priority, 0),
            max_attempts=_given(
                self.max_attempts, job_type.max_attempts, registry.default_max_attempts
            ),
        ).validate()
        if valid.callback_url is not None:
            registry.callback_rule(valid.callback_url)
        return valid

    def validate(self) -> NewJob:
        """Return the job if every field is valid, else raise ValidationError naming the field."""
        _check(
            isinstance(self.type, str) and NAME.fullmatch(self.type),
            "type",
            "must be 1-64 letters, digits or _.:-",
        )
        _check(
            isinstance(self.queue, str) and NAME.fullmatch(self.queue),
            "queue",
            "must be 1-64 letters, digits or _.:-",
        )
        _check(
            _is_int(self.priority) and abs(self.priority) <= INT32,
            "priority",
            "must be an integer (higher runs first)",
        )
        _check(
            _is_int(self.max_attempts) and 1 <= self.max_attempts <= MAX_ATTEMPTS_LIMIT,
            "max_attempts",
            f"must be an integer from 1 to {MAX_ATTEMPTS_LIMIT}",
        )
        _check(
            isinstance(self.payload, dict) and _is_json(self.payload),
            "payload",
            "must be a JSON object",
        )
        _check(
            self.idempotency_key is None
            or (isinstance(self.idempotency_key, str) and 0 < len(self.idempotency_key) <= 255),
            "idempotency_key",
            "must be a string of 1-255 characters",
        )
        _check(
            self.concurrency_key is None
            or (isinstance(self.concurrency_key, str) and 0 < len(self.concurrency_key) <= 255),
            "concurrency_key",
            "must be a string of 1-255 characters",
        )
        _check(
            self.run_at is None or self.delay_seconds is None,
            "run_at",
            "and delay_seconds cannot both be given: choose one",
        )
        _check_moment(self.run_at, "run_at")
        _check(
            self.delay_seconds is None
            or (
                isinstance(self.delay_seconds, int | float)
                and not isinstance(self.delay_seconds, bool)
                and math.isfinite(self.delay_seconds)
                and 0 <= self.delay_seconds <= MAX_DELAY_SECONDS
            ),
            "delay_seconds",
            f"must be a number of seconds from 0 to {MAX_DELAY_SECONDS}",
        )
        self._validate_deadline()
        if self.callback_url is not None:
            check_url_form(self.callback_url)
        return self

    def _validate_deadline(self) -> None:
        _check(
            self.not_after is None or self.expires_in_seconds is None,
            "not_after",
            "and expires_in_seconds cannot both be given: choose one",
        )
        _check_moment(self.not_after, "not_after")
        _check(
            self.expires_in_seconds is None
            or (
                _is_number(self.expires_in_seconds)
                and 0 < self.expires_in_seconds <= MAX_DELAY_SECONDS
            ),
            "expires_in_seconds",
            f"must be a number of seconds above 0 and at most {MAX_DELAY_SECONDS}",
        )
        # What can be told without the database's clock: a deadline before the job is due.
        if self.not_after is not None and self.run_at is not None:
            _check(self.not_after > self.run_at, "not_after", "must be after run_at")
        if self.expires_in_seconds is not None and self.delay_seconds is not None:
            _check(
                self.expires_in_seconds > self.delay_seconds,
                "expires_in_seconds",
                "must be more than delay_seconds",
            )


@dataclass(frozen=True)
class Enqueued:
    """The job's id, and False in ``created`` when its idempotency key already had a job.

    ``row`` holds the ``returning`` columns of a job just created, as stored: the values sent
    and what the INSERT itself returned (its id and times), where the database has INSERT ...
    RETURNING (MariaDB 10.5+, PostgreSQL, SQLite 3.35+); else, and for an existing job, it is
    None: read the job if you need it.
    """

    id: int
    created: bool
    row: Mapping[str, Any] | None = None


def enqueue(
    conn: Connection,
    job: NewJob,
    *,
    registry: Registry | None = None,
    returning: Sequence[Column[Any]] = (),
) -> Enqueued:
    """Add one job in ``conn``'s transaction. A known idempotency key returns the existing job.

    Two transactions adding one new idempotency key at once can deadlock (on MariaDB, when a
    third that held the key rolls back); the loser gets SubmissionConflict (retryable: its
    transaction is lost, run it again, as ``common.db.run_in_transaction`` does).
    ``registry`` defaults to the one the process's settings (JOB_MODULES...) build.
    ``returning`` names columns of ``jobs`` to hand back in ``Enqueued.row`` (see there).
    """
    valid = job.with_type_rules(registry or default_registry())
    return _enqueue_valid(conn, valid, tuple(returning))


def _enqueue_valid(
    conn: Connection, job: NewJob, returning: tuple[Column[Any], ...] = ()
) -> Enqueued:
    if job.idempotency_key is None:
        return _insert_one(conn, job, returning)
    try:
        with conn.begin_nested():  # a duplicate key must not abort the caller's transaction
            return _insert_one(conn, job, returning)
    except DBAPIError as exc:
        if isinstance(exc, IntegrityError):
            return _existing(conn, job)
        if is_retryable(exc):
            # Waiting on another transaction's insert of this key, this one lost a deadlock:
            # the database rolled it back whole (MariaDB) or left it to the caller to.
            raise SubmissionConflict(
                f"idempotency_key {job.idempotency_key!r}: a concurrent submission of this key"
                " deadlocked with this one and the database rolled this transaction back;"
                " run it again",
                field="idempotency_key",
            ) from exc
        raise


def _existing(conn: Connection, job: NewJob) -> Enqueued:
    existing = conn.execute(
        select(jobs.c.id).where(
            jobs.c.queue == job.queue, jobs.c.idempotency_key == job.idempotency_key
        )
    ).scalar_one()
    return Enqueued(existing, created=False)


def enqueue_many(
    conn: Connection, new_jobs: Sequence[NewJob], *, registry: Registry | None = None
) -> list[int]:
    """Add many jobs in ``conn``'s transaction, in one round trip where the database allows.

    Returns their ids in the given order. Jobs with an idempotency key go one by one, as in
    ``enqueue``; a key given twice in one call yields the same id twice. An invalid job adds
    none of them: ValidationError names it, as ``jobs[3].payload.to``. Calls sharing keys in
    another order can deadlock: the loser gets SubmissionConflict, as in ``enqueue``.
    """
    rules = registry or default_registry()
    valid = []
    for index, job in enumerate(new_jobs):
        try:
            valid.append(job.with_type_rules(rules))
        except ValidationError as exc:
            raise ValidationError(
                f"jobs[{index}]: {exc.message}", field=f"jobs[{index}].{exc.field}"
            ) from None
    plain_ids = iter(_insert(conn, [job for job in valid if job.idempotency_key is None]))
    return [
        next(plain_ids) if job.idempotency_key is None else _enqueue_valid(conn, job).id
        for job in valid
    ]


def insert_valid(conn: Connection, new_jobs: Sequence[NewJob]) -> list[int]:
    """Add jobs that skiplock made itself and validated (webhook deliveries, recurring slots),
    in ``conn``'s transaction, without a type's rules; returns their ids in order."""
    return _insert(conn, [job.validate() for job in new_jobs])


def _insert_one(conn: Connection, job: NewJob, returning: tuple[Column[Any], ...]) -> Enqueued:
    """Insert one job in one round trip: its id (and ``returning``) come back with the INSERT
    where the database can, not from a SELECT after it."""
    if not (returning and conn.dialect.insert_returning):
        return Enqueued(_insert(conn, [job])[0], created=True)
    sent = _row(job)
    # Only what the database decides comes back: each column returned costs its description
    # on the wire, which PyMySQL decodes in Python (an INSERT and its commit took 390 µs of
    # client CPU returning the answer's 21 columns, 260 returning these 5).
    decided = conn.execute(_INSERT_RETURNING_DECIDED, sent).mappings().one()
    row = {c.name: decided[c.name] if c.name in decided else sent.get(c.name) for c in returning}
    return Enqueued(decided["id"], created=True, row=row)


def _insert(conn: Connection, new_jobs: Sequence[NewJob]) -> list[int]:
    if not new_jobs:
        return []
    rows = [_row(job) for job in new_jobs]
    if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
        stmt = _INSERT_JOB.returning(jobs.c.id, sort_by_parameter_order=True)
        return list(conn.execute(stmt, rows).scalars())
    return [_insert_without_returning(conn, row) for row in rows]


def _insert_without_returning(conn: Connection, row: dict[str, Any]) -> int:
    key = conn.execute(_INSERT_JOB, row).inserted_primary_key
    assert key is not None
    return int(key[0])


# Times come from the database's clock, never the caller's: a job without run_at is due at
# the database's now (plus its delay).
_INSERT_JOB = insert(jobs).values(
    run_at=func.coalesce(
        bindparam("given_run_at", type_=UtcTimestamp),
        utc_in(bindparam("delay_micros", type_=BigInteger)),
    ),
    not_after=func.coalesce(
        bindparam("given_not_after", type_=UtcTimestamp),
        utc_in(bindparam("expires_micros", type_=BigInteger)),
    ),
    created_at=utcnow(),
    updated_at=utcnow(),
)


# What a new job's row holds beyond the values _row sends: its id and its times, decided by the
# database. Every other column is NULL in a new job.
_INSERT_RETURNING_DECIDED = _INSERT_JOB.returning(
    jobs.c.id, jobs.c.run_at, jobs.c.not_after, jobs.c.created_at, jobs.c.updated_at
)


def _row(job: NewJob) -> dict[str, Any]:
    expires = None if job.expires_in_seconds is None else micros(job.expires_in_seconds)
    return {
        "queue": job.queue,
        "type": job.type,
        "payload": job.payload,
        "status": Status.CREATED,
        "priority": job.priority,
        "given_run_at": _utc(job.run_at),
        "delay_micros": micros(job.delay_seconds or 0),
        "given_not_after": _utc(job.not_after),
        "expires_micros": expires,  # NULL: utc_in(NULL) is NULL, so no deadline
        "callback_url": job.callback_url,
        "attempts": 0,
        "max_attempts": job.max_attempts,
        "idempotency_key": job.idempotency_key,
        "concurrency_key": job.concurrency_key,
    }


def _utc(moment: datetime | None) -> datetime | None:
    """A given time as the naive UTC the database stores."""
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def _given(value: Any, type_default: Any, fallback: Any) -> Any:
    """What the caller gave, else the job type's default, else the fallback."""
    if value is not None:
        return value
    return type_default if type_default is not None else fallback


def _check(ok: object, field_name: str, message: str) -> None:
    if not ok:
        raise ValidationError(f"{field_name} {message}", field=field_name)


def _check_moment(moment: object, field_name: str) -> None:
    """None, or an aware date-time that every supported database can store."""
    if moment is None:
        return
    _check(
        isinstance(moment, datetime) and moment.utcoffset() is not None,
        field_name,
        "must be a date-time with a UTC offset",
    )
    assert isinstance(moment, datetime)
    try:
        in_utc: datetime | None = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        in_utc = None
    _check(
        in_utc is not None and EARLIEST <= in_utc <= LATEST,
        field_name,
        f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)",
    )


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_json(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
