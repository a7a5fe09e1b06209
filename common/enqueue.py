"""Adding jobs inside the caller's own transaction: a rolled-back transaction leaves no job."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from common.db import micros, utc_in, utcnow
from common.errors import ValidationError
from common.models import UtcTimestamp, jobs
from common.states import Status

NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
INT32 = 2**31 - 1
MAX_DELAY_SECONDS = 366 * 24 * 3600
MAX_ATTEMPTS_LIMIT = 100


@dataclass(frozen=True)
class NewJob:
    """A job to add. Without ``run_at`` or ``delay_seconds`` it is due at once."""

    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    priority: int = 0
    run_at: datetime | None = None
    delay_seconds: float | None = None
    max_attempts: int = 5
    idempotency_key: str | None = None

    def validate(self) -> NewJob:
        """Return the job if every field is valid, else raise ValidationError naming the field."""
        _check(
            isinstance(self.type, str) and NAME.match(self.type),
            "type",
            "must be 1-64 letters, digits or _.:-",
        )
        _check(
            isinstance(self.queue, str) and NAME.match(self.queue),
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
            self.run_at is None or self.delay_seconds is None,
            "run_at",
            "give run_at or delay_seconds, not both",
        )
        _check(
            self.run_at is None
            or (isinstance(self.run_at, datetime) and self.run_at.utcoffset() is not None),
            "run_at",
            "must be a date-time with a UTC offset",
        )
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
        return self


@dataclass(frozen=True)
class Enqueued:
    """The job's id, and False in ``created`` when its idempotency key already had a job."""

    id: int
    created: bool


def enqueue(conn: Connection, job: NewJob) -> Enqueued:
    """Add one job in ``conn``'s transaction. A known idempotency key returns the existing job."""
    job.validate()
    if job.idempotency_key is None:
        return Enqueued(_insert(conn, [job])[0], created=True)
    try:
        with conn.begin_nested():  # a duplicate key must not abort the caller's transaction
            return Enqueued(_insert(conn, [job])[0], created=True)
    except IntegrityError:
        existing = conn.execute(
            select(jobs.c.id).where(
                jobs.c.queue == job.queue, jobs.c.idempotency_key == job.idempotency_key
            )
        ).scalar_one()
        return Enqueued(existing, created=False)


def enqueue_many(conn: Connection, new_jobs: Sequence[NewJob]) -> list[int]:
    """Add many jobs in ``conn``'s transaction, in one round trip where the database allows.

    Returns their ids in the given order. Jobs with an idempotency key go one by one, as in
    ``enqueue``; a key given twice in one call yields the same id twice.
    """
    for index, job in enumerate(new_jobs):
        try:
            job.validate()
        except ValidationError as exc:
            raise ValidationError(
                f"jobs[{index}]: {exc.message}", field=f"jobs[{index}].{exc.field}"
            ) from None
    plain = [job for job in new_jobs if job.idempotency_key is None]
    plain_ids = iter(_insert(conn, plain))
    return [
        next(plain_ids) if job.idempotency_key is None else enqueue(conn, job).id
        for job in new_jobs
    ]


def _insert(conn: Connection, new_jobs: Sequence[NewJob]) -> list[int]:
    if not new_jobs:
        return []
    rows = [_row(job) for job in new_jobs]
    if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
        stmt = _INSERT_JOB.returning(jobs.c.id, sort_by_parameter_order=True)
        return list(conn.execute(stmt, rows).scalars())
    return [_insert_one(conn, row) for row in rows]


def _insert_one(conn: Connection, row: dict[str, Any]) -> int:
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
    created_at=utcnow(),
    updated_at=utcnow(),
)


def _row(job: NewJob) -> dict[str, Any]:
    given = None if job.run_at is None else job.run_at.astimezone(UTC).replace(tzinfo=None)
    return {
        "queue": job.queue,
        "type": job.type,
        "payload": job.payload,
        "status": Status.CREATED,
        "priority": job.priority,
        "given_run_at": given,
        "delay_micros": micros(job.delay_seconds or 0),
        "attempts": 0,
        "max_attempts": job.max_attempts,
        "idempotency_key": job.idempotency_key,
    }


def _check(ok: object, field_name: str, message: str) -> None:
    if not ok:
        raise ValidationError(f"{field_name} {message}", field=field_name)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_json(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
