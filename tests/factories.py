"""Jobs in any state, inserted directly with the columns that state implies, and read back.

Times are relative to the database's clock (``run_in=-1`` means due a second ago), because the
engine compares them with the database's clock, never the test process's.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from common.db import utcnow
from common.errors import LeaseLost
from common.finish import finish
from common.models import job_attempts, jobs
from common.retry import BackoffPolicy
from common.states import TERMINAL, Status
from common.transitions import Finished


def db_now(engine: Engine) -> datetime:
    """The database's current UTC time, as the engine sees it."""
    with engine.connect() as conn:
        return _now(conn)


def make_job(
    engine: Engine,
    status: Status = Status.SCHEDULED,
    *,
    run_in: float = -1.0,
    finished_ago: float = 0.0,
    **columns: Any,
) -> int:
    """Insert one job in ``status`` and return its id.

    ``run_in`` places run_at relative to now; ``finished_ago`` places finished_at (terminal
    statuses only). Any column may be overridden by name.
    """
    return make_jobs(engine, 1, status, run_in=run_in, finished_ago=finished_ago, **columns)[0]


def make_jobs(
    engine: Engine,
    count: int,
    status: Status = Status.SCHEDULED,
    *,
    run_in: float = -1.0,
    finished_ago: float = 0.0,
    **columns: Any,
) -> list[int]:
    """Insert ``count`` alike jobs in ``status``, in one statement; return their ids in order."""
    with engine.begin() as conn:
        now = _now(conn)
        row = {**_row_for(status, now, run_in, finished_ago), **columns}
        stmt = insert(jobs).returning(jobs.c.id, sort_by_parameter_order=True)
        return list(conn.execute(stmt, [dict(row) for _ in range(count)]).scalars())


def expire_lease(engine: Engine, job_id: int) -> None:
    """Make a RUNNING job's lease run out, as if its worker had stopped a while ago."""
    with engine.begin() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(locked_until=_now(conn) - timedelta(seconds=5))
        )


def make_due(engine: Engine, job_id: int) -> None:
    """Move a job's run_at into the past, as if its backoff had been waited out."""
    with engine.begin() as conn:
        conn.execute(
            update(jobs).where(jobs.c.id == job_id).values(run_at=_now(conn) - timedelta(seconds=1))
        )


def finish_one(
    engine: Engine,
    done: Finished,
    backoff: BackoffPolicy,
    rand: Callable[[], float] = random.random,
) -> None:
    """Record one finished attempt; LeaseLost if the job is no longer this worker's."""
    if finish(engine, [done], backoff, rand).lost:
        raise LeaseLost(f"job {done.job.id}: lease lost, result discarded")


def job_row(engine: Engine, job_id: int) -> RowMapping:
    """Every column of one job."""
    with engine.connect() as conn:
        return conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one()


def status_of(engine: Engine, job_id: int) -> Status:
    return Status(job_row(engine, job_id)["status"])


def statuses(engine: Engine) -> dict[int, Status]:
    """Every job's status, by id."""
    with engine.connect() as conn:
        return {
            row.id: Status(row.status) for row in conn.execute(select(jobs.c.id, jobs.c.status))
        }


def attempt_rows(engine: Engine, job_id: int) -> list[RowMapping]:
    """The job's attempt rows, oldest first."""
    with engine.connect() as conn:
        query = select(job_attempts).where(job_attempts.c.job_id == job_id)
        return list(conn.execute(query.order_by(job_attempts.c.attempt)).mappings())


def count_rows(engine: Engine, table: Any = jobs) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _now(conn: Connection) -> datetime:
    return conn.execute(select(utcnow())).scalar_one()


def _row_for(status: Status, now: datetime, run_in: float, finished_ago: float) -> dict[str, Any]:
    """The columns a job in ``status`` has when the engine put it there."""
    row: dict[str, Any] = {
        "queue": "default",
        "type": "noop",
        "payload": {},
        "status": status,
        "priority": 0,
        "run_at": now + timedelta(seconds=run_in),
        "attempts": 0,
        "max_attempts": 5,
        "created_at": now - timedelta(seconds=60),
        "updated_at": now,
    }
    if status in {Status.CREATED, Status.SCHEDULED}:
        return row
    if status == Status.CANCELLED:
        return {**row, "finished_at": now - timedelta(seconds=finished_ago)}
    # Every other status means at least one attempt was started.
    row |= {"attempts": 1, "started_at": now - timedelta(seconds=2), "locked_by": "factory"}
    if status == Status.RUNNING:
        row |= {"lease_token": uuid.uuid4().hex, "locked_until": now + timedelta(seconds=120)}
    elif status == Status.SUCCESS:
        row |= {"result": {"ok": True}}
    else:  # FAILED waits for its backoff (run_in); DLQ has given up
        row |= {"last_error": "JobError: failed on purpose"}
    if status in TERMINAL:
        row["finished_at"] = now - timedelta(seconds=finished_ago)
    return row
