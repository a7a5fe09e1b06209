"""Reading jobs: one job with its attempt history, and keyset-paginated listings."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    ScalarSelect,
    Select,
    bindparam,
    select,
    union_all,
)
from sqlalchemy.engine import Connection

from common.errors import NotFound
from common.maintenance import JobFilter
from common.models import job_attempts, jobs, recurring_slots
from common.states import Status

# What a job looks like to API clients; the lease token and worker stay internal. A job of a
# recurring schedule also has its slot (recurring_name, recurring_slot; else NULL).
PUBLIC_JOB_COLUMNS = [
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
        "concurrency_key",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "not_after",
        "callback_url",
        "error_fingerprint",
    )
]
PUBLIC_COLUMNS = [
    *PUBLIC_JOB_COLUMNS,
    recurring_slots.c.name.label("recurring_name"),
    recurring_slots.c.slot_time.label("recurring_slot"),
]
_JOBS_AND_SLOTS = jobs.outerjoin(recurring_slots, recurring_slots.c.job_id == jobs.c.id)


def get_job(conn: Connection, job_id: int) -> dict[str, Any]:
    """The job with ``job_id`` as a dict; NotFound if there is none."""
    query = select(*PUBLIC_COLUMNS).select_from(_JOBS_AND_SLOTS).where(jobs.c.id == job_id)
    row = conn.execute(query).mappings().first()
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
    rows = _page(conn, where, limit + 1, before_id=before_id)
    next_before = rows[limit - 1]["id"] if len(rows) > limit else None
    return rows[:limit], next_before


def newer_jobs(
    conn: Connection, where: JobFilter, *, limit: int, after_id: int
) -> tuple[list[dict[str, Any]], bool]:
    """The page of jobs matching ``where`` just above ``after_id`` (the previous page of a
    newest-first listing), newest first, and whether there are newer ones still."""
    rows = _page(conn, where, limit + 1, after_id=after_id)
    return rows[:limit][::-1], len(rows) > limit


MYSQL = ("mysql", "mariadb")


def status_queues(conn: Connection) -> list[tuple[str, str]]:
    """Every (status, queue) that has jobs. MariaDB and MySQL read one entry of
    ix_jobs_status_queue per pair (a loose index scan): no WHERE, which would stop that."""
    return [(status, queue) for status, queue in conn.execute(STATUS_QUEUES)]


STATUS_QUEUES = select(jobs.c.status, jobs.c.queue).group_by(jobs.c.status, jobs.c.queue)


def queues_of_status(conn: Connection, status: Status) -> list[str]:
    """The queues that have jobs in ``status``, each found by a probe of ix_jobs_status_queue:
    on MariaDB and MySQL by the loose scan of ``status_queues``; elsewhere (PostgreSQL has no
    loose scan) by walking from each queue to the next one of the status."""
    if conn.dialect.name in MYSQL:
        return [queue for found, queue in status_queues(conn) if found == status]
    return list(conn.execute(QUEUES_OF_STATUS, {"status": status}).scalars())


def _first_queue(after: Any = None) -> ScalarSelect[Any]:
    """The first queue of the bound status (after ``after``, if given), in index order."""
    status = bindparam("status", type_=jobs.c.status.type)
    query = select(jobs.c.queue).where(jobs.c.status == status)
    if after is not None:
        query = query.where(jobs.c.queue > after)
    return query.order_by(jobs.c.queue).limit(1).scalar_subquery()


_WALK = select(_first_queue().label("queue")).cte("walk", recursive=True)
_WALK = _WALK.union_all(
    select(_first_queue(_WALK.c.queue).label("queue")).where(_WALK.c.queue.is_not(None))
)
QUEUES_OF_STATUS = select(_WALK.c.queue).where(_WALK.c.queue.is_not(None))


MAX_MERGED_QUEUES = 50


def _page(
    conn: Connection,
    where: JobFilter,
    limit: int,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` jobs: below ``before_id`` newest first, or above ``after_id`` oldest
    first.

    A status without a queue is read as that status's page of each of its queues (index
    ix_jobs_status_queue (status, queue, id), the queues found by ``queues_of_status``),
    merged: an index (status, id) would serve it too, but every status change of every job
    would then update one index more.
    """
    if where.status is not None and where.queue is None:
        names = queues_of_status(conn, where.status)
        if len(names) <= MAX_MERGED_QUEUES:
            return _merged_page(conn, where, names, limit, before_id, after_id)
    given = where.given()
    statement = _page_statement(tuple(given), before_id is not None, after_id is not None)
    params = _page_params(given, limit, before_id, after_id)
    return [dict(r) for r in conn.execute(statement, params).mappings()]


# The listing's statements are built once per shape (the filter's columns, which way), their
# values bound at execution: building them for every request cost more than running them.


@lru_cache(maxsize=64)
def _page_statement(columns: tuple[str, ...], before: bool, after: bool) -> Select[Any]:
    query = select(*PUBLIC_COLUMNS).select_from(_JOBS_AND_SLOTS).where(*_matching(columns))
    return _in_id_order(query, {"status", "queue"} <= set(columns), before, after)


def _matching(columns: Sequence[str]) -> list[ColumnElement[bool]]:
    """Each column equal to the bind parameter of its name."""
    return [jobs.c[column] == bindparam(column) for column in columns]


def _page_params(
    given: dict[str, Any], limit: int, before_id: int | None, after_id: int | None
) -> dict[str, Any]:
    params = {**given, "limit": limit}
    if before_id is not None:
        params["before_id"] = before_id
    if after_id is not None:
        params["after_id"] = after_id
    return params


def _in_id_order(
    query: Select[Any], by_status_and_queue: bool, before: bool, after: bool
) -> Select[Any]:
    """``query`` cut to one page in id order: ``limit`` ids below ``before_id`` (newest first)
    or above ``after_id`` (oldest first), bound at execution."""
    if by_status_and_queue:
        # Left to itself, MariaDB reads the index as a "ref" from the top of the status and
        # filters ``id < before`` row by row: a page in the middle of a million finished jobs
        # took 0.3-0.7 s instead of 1 ms (docs/OPERATIONS.md).
        for dialect in MYSQL:
            query = query.with_hint(jobs, "FORCE INDEX (ix_jobs_status_queue)", dialect)
    if before:
        query = query.where(jobs.c.id < bindparam("before_id"))
    if after:
        query = query.where(jobs.c.id > bindparam("after_id"))
    order = jobs.c.id.asc() if after else jobs.c.id.desc()
    return query.order_by(order).limit(bindparam("limit", type_=Integer))


def _merged_page(
    conn: Connection,
    where: JobFilter,
    queues: list[str],
    limit: int,
    before_id: int | None,
    after_id: int | None,
) -> list[dict[str, Any]]:
    """A status's page from its queues' pages: their ids in one statement (each read from
    ix_jobs_status_queue alone), then the rows of the page's own ids by primary key."""
    if not queues:
        return []
    newest_first = after_id is None
    found = conn.execute(*queue_pages(where, queues, limit, before_id, after_id)).scalars().all()
    page = sorted(found, reverse=newest_first)[:limit]
    if not page:
        return []
    given = where.given()  # as the jobs are now: one may have moved on since its id was read
    rows = conn.execute(_rows_statement(tuple(given)), {**given, "ids": page}).mappings()
    return sorted((dict(row) for row in rows), key=lambda row: row["id"], reverse=newest_first)


@lru_cache(maxsize=16)
def _rows_statement(columns: tuple[str, ...]) -> Select[Any]:
    ids = jobs.c.id.in_(bindparam("ids", expanding=True))
    return select(*PUBLIC_COLUMNS).select_from(_JOBS_AND_SLOTS).where(*_matching(columns), ids)


def queue_pages(
    where: JobFilter,
    queues: list[str],
    limit: int,
    before_id: int | None = None,
    after_id: int | None = None,
) -> tuple[CompoundSelect, dict[str, Any]]:
    """The ids of the page of ``where`` in each of ``queues``, in one UNION ALL, and its
    parameters (the queues are ``queue_0``, ``queue_1``, ...)."""
    given = {column: value for column, value in where.given().items() if column != "queue"}
    named = {f"queue_{index}": queue for index, queue in enumerate(queues)}
    params = _page_params({**given, **named}, limit, before_id, after_id)
    shape = (tuple(given), len(queues), before_id is not None, after_id is not None)
    return _queue_pages_statement(*shape), params


@lru_cache(maxsize=256)
def _queue_pages_statement(
    columns: tuple[str, ...], queues: int, before: bool, after: bool
) -> CompoundSelect:
    parts = []
    for index in range(queues):
        ids = select(jobs.c.id).where(
            *_matching(columns), jobs.c.queue == bindparam(f"queue_{index}")
        )
        page = _in_id_order(ids, "status" in columns, before, after)
        parts.append(select(page.subquery().c.id))
    return union_all(*parts)
