"""Aggregate reads for operators: the dashboard's overview, `skiplock stats` and the metrics.

Every number comes from the database when asked for, never from a process's memory, so any
instance answers the same; and nothing is counted as jobs finish (no row that every finishing
tick would update). Each query says which index it reads: the overview's stay bounded by the
jobs that are not finished and by the last hour's, however many finished jobs the table holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, case, cast, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from common.db import utcnow
from common.models import job_attempts, jobs
from common.queries import status_queues
from common.states import TERMINAL, Outcome, Status

S = Status
COUNT_CAP = 10_000  # the overview counts finished jobs up to this, per queue and status
WAITING = (S.CREATED, S.SCHEDULED, S.FAILED)  # a job due in one of these waits for a worker
FAILED_OUTCOMES = tuple(o for o in Outcome if o != Outcome.SUCCESS)
HOUR_SECONDS = 3600


class seconds_between(FunctionElement[float]):  # noqa: N801 - reads as the SQL it renders
    """``end - start`` in seconds (with fractions) on the database."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between, "mysql")
@compiles(seconds_between, "mariadb")
def _seconds_mysql(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(TIMESTAMPDIFF(MICROSECOND, {start}, {end}) / 1000000.0)"


@compiles(seconds_between, "postgresql")
def _seconds_pg(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@dataclass
class QueueStats:
    """One queue: its jobs by status, its oldest due job's age, and its last hour."""

    queue: str
    by_status: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Status})
    at_least: list[str] = field(default_factory=list)  # statuses counted up to COUNT_CAP only
    oldest_due_age_seconds: float | None = None  # None: no job is due and waiting
    succeeded_last_hour: int = 0
    failed_last_hour: int = 0  # failed attempts (retried or not)
    dead_lettered_last_hour: int = 0


def db_now(conn: Connection) -> datetime:
    return conn.execute(select(utcnow())).scalar_one()


def overview(conn: Connection) -> list[QueueStats]:
    """Every queue's numbers, by queue name."""
    now = db_now(conn)
    queues: dict[str, QueueStats] = {}

    def of(name: str) -> QueueStats:
        return queues.setdefault(name, QueueStats(name))

    for queue, status, count in overview_counts(conn):
        of(queue).by_status[status] = count
        if status in TERMINAL and count > COUNT_CAP:
            of(queue).by_status[status] = COUNT_CAP
            of(queue).at_least.append(status)
    for queue, age in oldest_due(conn, now).items():
        of(queue).oldest_due_age_seconds = age
    since = now - timedelta(seconds=HOUR_SECONDS)
    for queue, status, count in finished_since(conn, since):
        stats = of(queue)
        if status == S.SUCCESS:
            stats.succeeded_last_hour = count
        else:
            stats.dead_lettered_last_hour = count
    for queue, count in failed_attempts_since(conn, since):
        of(queue).failed_last_hour = count
    return [queues[name] for name in sorted(queues)]


def counts(conn: Connection) -> list[tuple[str, str, int]]:
    """(queue, status, jobs): reads index ix_jobs_status_queue only (status, queue, id)."""
    query = select(jobs.c.queue, jobs.c.status, func.count()).group_by(jobs.c.status, jobs.c.queue)
    return [(q, s, n) for q, s, n in conn.execute(query)]


def overview_counts(conn: Connection) -> list[tuple[str, str, int]]:
    """(queue, status, jobs) as the overview shows them, bounded by the unfinished jobs however
    many finished ones the table holds: the unfinished counted exactly (a range of
    ix_jobs_status_queue over their statuses), the finished per queue and status up to
    COUNT_CAP + 1 (a range of at most that many entries of the same index each), their queues
    found by a loose index scan of it (common.queries.status_queues)."""
    unfinished = sorted(set(Status) - TERMINAL)
    query = (
        select(jobs.c.queue, jobs.c.status, func.count())
        .where(jobs.c.status.in_(unfinished))
        .group_by(jobs.c.status, jobs.c.queue)
    )
    found = [(q, s, n) for q, s, n in conn.execute(query)]
    for status, queue in status_queues(conn):
        if status not in TERMINAL:
            continue
        some = (
            select(jobs.c.id)
            .where(jobs.c.status == status, jobs.c.queue == queue)
            .limit(COUNT_CAP + 1)
            .subquery()
        )
        found.append(
            (queue, status, conn.execute(select(func.count()).select_from(some)).scalar_one())
        )
    return found


def oldest_due(conn: Connection, now: datetime) -> dict[str, float]:
    """Per queue, how long its longest-waiting due job has been due (CREATED and FAILED jobs
    past their run_at, and SCHEDULED ones). Reads index ix_jobs_due (status, run_at, id) over
    the due jobs only: never the jobs delayed into the future, nor the finished ones."""
    query = (
        select(jobs.c.queue, func.min(jobs.c.run_at))
        .where(jobs.c.status.in_(WAITING), jobs.c.run_at <= now)
        .group_by(jobs.c.queue)
    )
    return {q: max(0.0, (now - oldest).total_seconds()) for q, oldest in conn.execute(query)}


def due_count(conn: Connection, queues: Sequence[str] | None = None) -> int:
    """Jobs due and waiting for a worker (in ``queues``, default all): index ix_jobs_due."""
    query = select(func.count()).where(jobs.c.status.in_(WAITING), jobs.c.run_at <= utcnow())
    if queues:
        query = query.where(jobs.c.queue.in_(queues))
    return int(conn.execute(query).scalar_one())


def finished_since(conn: Connection, since: datetime) -> list[tuple[str, str, int]]:
    """(queue, SUCCESS or DLQ, jobs) that finished since ``since``: reads index
    ix_jobs_finished_at over that time range, then those rows by primary key."""
    query = (
        select(jobs.c.queue, jobs.c.status, func.count())
        .where(jobs.c.finished_at >= since, jobs.c.status.in_((S.SUCCESS, S.DLQ)))
        .group_by(jobs.c.queue, jobs.c.status)
    )
    return [(q, s, n) for q, s, n in conn.execute(query)]


def failed_attempts_since(conn: Connection, since: datetime) -> list[tuple[str, int]]:
    """(queue, attempts that failed since ``since``): reads index ix_job_attempts_ended_at
    (ended_at, outcome) over that time range, then the failed attempts' jobs by primary key."""
    query = (
        select(jobs.c.queue, func.count())
        .select_from(job_attempts.join(jobs, jobs.c.id == job_attempts.c.job_id))
        .where(job_attempts.c.ended_at >= since, job_attempts.c.outcome.in_(FAILED_OUTCOMES))
        .group_by(jobs.c.queue)
    )
    return [(q, n) for q, n in conn.execute(query)]


@dataclass(frozen=True)
class Minute:
    """Attempts that ended in one minute: ``start`` is the minute's beginning."""

    start: datetime
    succeeded: int
    failed: int


def throughput(conn: Connection, minutes: int = 60) -> list[Minute]:
    """Attempts ended per minute over the last ``minutes``, oldest first, a row for every
    minute. Reads index ix_job_attempts_ended_at (ended_at, outcome) only, over that range."""
    now = db_now(conn).replace(second=0, microsecond=0) + timedelta(minutes=1)
    since = now - timedelta(minutes=minutes)
    minute = cast(func.floor(seconds_between(since, job_attempts.c.ended_at) / 60), Integer)
    ok = job_attempts.c.outcome == Outcome.SUCCESS
    query = (
        select(
            minute.label("minute"),
            func.sum(case((ok, 1), else_=0)),
            func.sum(case((ok, 0), else_=1)),
        )
        .where(job_attempts.c.ended_at >= since)
        .group_by(minute)
    )
    found = {int(m): (int(s), int(f)) for m, s, f in conn.execute(query)}
    return [Minute(since + timedelta(minutes=m), *found.get(m, (0, 0))) for m in range(minutes)]


# --- For the metrics: whole-table aggregates, read at scrape time --------------------------


@dataclass(frozen=True)
class Histogram:
    """Cumulative counts at each upper bound (then +Inf = ``count``), and the sum."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    sum: float


@dataclass(frozen=True)
class AttemptTotals:
    """The attempts of one (queue, type, outcome), and their durations."""

    queue: str
    type: str
    outcome: str
    attempts: int
    durations: Histogram  # of the attempts whose start is known


DURATION_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WAIT_BOUNDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def attempt_totals(conn: Connection) -> list[AttemptTotals]:
    """Every recorded attempt (those of pruned jobs are gone with them), by queue, type and
    outcome, with a histogram of their durations: one pass over job_attempts joined to jobs by
    primary key, each attempt's bucket found by the database."""
    keys = (jobs.c.queue, jobs.c.type, job_attempts.c.outcome)
    duration = seconds_between(job_attempts.c.started_at, job_attempts.c.ended_at)
    source = job_attempts.join(jobs, jobs.c.id == job_attempts.c.job_id)
    found = _bucketed(conn, keys, duration, DURATION_BOUNDS, source)
    return [AttemptTotals(k[0], k[1], k[2], rows, hist) for k, (rows, hist) in found.items()]


def queue_waits(conn: Connection) -> dict[str, Histogram]:
    """Per queue, how long jobs waited from due (run_at) to the start of their latest attempt,
    for every job that has started one: one pass over the jobs, bucketed by the database."""
    wait = seconds_between(jobs.c.run_at, jobs.c.started_at)
    found = _bucketed(
        conn, (jobs.c.queue,), wait, WAIT_BOUNDS, jobs, jobs.c.started_at.is_not(None)
    )
    return {key[0]: histogram for key, (_, histogram) in found.items()}


def _bucketed(
    conn: Connection,
    keys: Sequence[ColumnElement[Any]],
    value: ColumnElement[float],
    bounds: tuple[float, ...],
    source: Any,
    *where: ColumnElement[bool],
) -> dict[tuple[Any, ...], tuple[int, Histogram]]:
    """Per value of ``keys``: how many rows, and the histogram of ``value`` (rows where it is
    NULL count as rows, not in the histogram; a negative value, a clock step, counts as 0).

    The database puts each row in its bucket with one CASE (evaluated once per row, up to the
    first bound that holds it) and counts rows per key and bucket; the cumulative counts are
    added up here.
    """
    inner = select(*(k.label(f"k{i}") for i, k in enumerate(keys)), value.label("v"))
    derived = inner.select_from(source).where(*where).subquery()
    v = derived.c.v
    bucket = case(
        (v.is_(None), -1), *((v <= bound, i) for i, bound in enumerate(bounds)), else_=len(bounds)
    ).label("bucket")
    key_columns = [derived.c[f"k{i}"] for i in range(len(keys))]
    clamped = func.sum(case((v < 0, 0.0), else_=v))
    query = select(*key_columns, bucket, func.count(), clamped).group_by(*key_columns, bucket)
    counts: dict[tuple[Any, ...], list[int]] = {}
    sums: dict[tuple[Any, ...], float] = {}
    for *key_values, index, rows, total in conn.execute(query):
        key = tuple(key_values)
        per = counts.setdefault(key, [0] * (len(bounds) + 2))  # [NULL, bucket 0.., above all]
        per[int(index) + 1] += int(rows)
        sums[key] = sums.get(key, 0.0) + float(total or 0.0)
    result = {}
    for key, per in counts.items():
        in_buckets, running, cumulative = per[1:], 0, []
        for n in in_buckets[: len(bounds)]:
            running += n
            cumulative.append(running)
        histogram = Histogram(bounds, tuple(cumulative), sum(in_buckets), sums[key])
        result[key] = (sum(per), histogram)
    return result
