"""Reading jobs: one job with its attempt history, and keyset-paginated listings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from common.errors import NotFound
from common.maintenance import JobFilter
from common.models import job_attempts, jobs

# What a job looks like to API clients; the lease token and worker stay internal.
PUBLIC_COLUMNS = [
    jobs.c[name]
    for name in (
        "id",
        "type",
        "queue",
        "status",
        "priority",
        "payload",
        "run_at",
        "attempts",
        "max_attempts",
        "last_error",
        "result",
        "locked_until",
        "idempotency_key",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "error_fingerprint",
    )
]


def get_job(conn: Connection, job_id: int) -> dict[str, Any]:
    """The job with ``job_id`` as a dict; NotFound if there is none."""
    row = conn.execute(select(*PUBLIC_COLUMNS).where(jobs.c.id == job_id)).mappings().first()
    if row is None:
        raise NotFound(f"job {job_id} not found", field="id")
    return dict(row)


def attempt_history(conn: Connection, job_id: int) -> list[dict[str, Any]]:
    """Every finished attempt of the job, oldest first."""
    rows = conn.execute(
        select(
            job_attempts.c.attempt,
            job_attempts.c.worker_id,
            job_attempts.c.started_at,
            job_attempts.c.ended_at,
            job_attempts.c.outcome,
            job_attempts.c.error,
        )
        .where(job_attempts.c.job_id == job_id)
        .order_by(job_attempts.c.attempt)
    ).mappings()
    return [dict(row) for row in rows]


def list_jobs(
    conn: Connection, where: JobFilter, *, limit: int, before_id: int | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """Jobs matching ``where``, newest first, and the id to pass as ``before_id`` for more.

    Keyset pagination: each page starts below the last id seen, so no page scans the ones
    before it.
    """
    query = select(*PUBLIC_COLUMNS).where(where.clause())
    if before_id is not None:
        query = query.where(jobs.c.id < before_id)
    rows = [
        dict(r) for r in conn.execute(query.order_by(jobs.c.id.desc()).limit(limit + 1)).mappings()
    ]
    next_before = rows[limit - 1]["id"] if len(rows) > limit else None
    return rows[:limit], next_before


def newer_jobs(
    conn: Connection, where: JobFilter, *, limit: int, after_id: int
) -> tuple[list[dict[str, Any]], bool]:
    """The page of jobs matching ``where`` just above ``after_id`` (the previous page of a
    newest-first listing), newest first, and whether there are newer ones still."""
    query = select(*PUBLIC_COLUMNS).where(where.clause(), jobs.c.id > after_id)
    rows = [dict(r) for r in conn.execute(query.order_by(jobs.c.id).limit(limit + 1)).mappings()]
    return rows[:limit][::-1], len(rows) > limit
