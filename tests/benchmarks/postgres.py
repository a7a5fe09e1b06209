"""Section `postgres`: the in-process worker path on PostgreSQL, paired with a bare psycopg loop.

The same method as the MariaDB sections: SQL-seeded SCHEDULED no-op jobs, W processes of
common.worker.work_tick with stop_when_idle (or of the bare loop), released together, timed to
the last job done, each skiplock run next to a bare run. PostgreSQL runs a process per
connection, which ends with it, so the server's CPU is the machine's busy time over the drain
less the workers' own (the machine should be quiet).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from common.db import make_engine, migrate
from tests.benchmarks import inprocess
from tests.benchmarks.bench_db import BenchError, check_exactly_once
from tests.benchmarks.plan import NOOP_TYPE, Plan
from tests.benchmarks.procs import Drain, run_workers
from tests.benchmarks.results import Results, Table, key

URL = os.environ.get(
    "BENCH_POSTGRES_SKIPLOCK_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/skiplock_bench_pg"
)
WORKERS = 4
PATH, BARE = "pg_inprocess", "pg_bare"

_SEED = """
INSERT INTO jobs (queue, type, payload, status, priority, run_at, attempts, max_attempts,
                  created_at, updated_at)
SELECT 'default', %(type)s, '{}', 'SCHEDULED', 0,
       (now() AT TIME ZONE 'UTC') - (%(n)s - seq) * INTERVAL '1 microsecond', 0, 5,
       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
FROM generate_series(1, %(n)s) AS seq
"""
# The bare loop: skiplock's claim order and lease columns, no framework, no attempt records.
CLAIM = (
    "SELECT id, type, payload FROM jobs"
    " WHERE status = 'SCHEDULED' AND run_at <= (now() AT TIME ZONE 'UTC')"
    " ORDER BY priority DESC, run_at, id LIMIT %s FOR UPDATE SKIP LOCKED"
)
MARK_RUNNING = (
    "UPDATE jobs SET status = 'RUNNING', attempts = attempts + 1,"
    " started_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC'"
    " WHERE id = ANY(%s)"
)
MARK_SUCCESS = (
    "UPDATE jobs SET status = 'SUCCESS', finished_at = now() AT TIME ZONE 'UTC',"
    " updated_at = now() AT TIME ZONE 'UTC' WHERE id = ANY(%s)"
)


@dataclass(frozen=True)
class BareSpec:
    dsn: str
    batch: int


def bare_worker(spec: BareSpec, ready: Callable[[], None]) -> list[int]:
    """Claim, mark, finish until a claim comes back empty: two commits per batch."""
    seen: list[int] = []
    with psycopg.connect(spec.dsn) as conn, conn.cursor() as cur:
        ready()
        while True:
            ids = [row[0] for row in cur.execute(CLAIM, (spec.batch,)).fetchall()]
            if ids:
                cur.execute(MARK_RUNNING, (ids,))
            conn.commit()
            if not ids:
                return seen
            seen.extend(ids)  # the no-op "run"
            cur.execute(MARK_SUCCESS, (ids,))
            conn.commit()


def prepare() -> Engine:
    """Create the section's own PostgreSQL database if needed, migrate it, return an engine."""
    parsed = make_url(URL)
    server = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        ).first()
        if found is None:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    server.dispose()
    migrate(URL)
    return make_engine(URL)


def seed(engine: Engine, jobs: int) -> list[int]:
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE job_attempts, jobs")
        conn.exec_driver_sql(_SEED, {"type": NOOP_TYPE, "n": jobs})
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE jobs")
        conn.commit()
        return list(conn.exec_driver_sql("SELECT id FROM jobs ORDER BY id").scalars())


def busy_cpu_seconds() -> float:
    """The machine's busy CPU seconds so far (all but idle and iowait, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed(body: Callable[[], Drain]) -> Drain:
    """``body``'s drain with the server's CPU: the machine's busy time less the workers'."""
    before = busy_cpu_seconds()
    drain = body()
    server = max(0.0, busy_cpu_seconds() - before - drain.worker_cpu_seconds)
    return Drain(
        drain.workers, drain.jobs, drain.seconds, drain.seen, drain.worker_cpu_seconds, server
    )


def check_succeeded(engine: Engine, jobs: int, *, attempts: bool) -> None:
    with engine.connect() as conn:
        done = conn.exec_driver_sql("SELECT COUNT(*) FROM jobs WHERE status = 'SUCCESS'").scalar()
        rows = conn.exec_driver_sql("SELECT COUNT(*) FROM job_attempts").scalar()
    if done != jobs or (attempts and rows != jobs):
        raise BenchError(f"PostgreSQL drain: {done} SUCCESS, {rows} attempt rows of {jobs}")


def skiplock_drain(engine: Engine, batch: int, jobs: int) -> Drain:
    expected = seed(engine, jobs)
    spec = inprocess.TickSpec(URL, batch)
    drain = timed(partial(run_workers, inprocess.worker, spec, WORKERS, jobs))
    check_exactly_once(drain.seen, expected)
    check_succeeded(engine, jobs, attempts=True)
    return drain


def bare_drain(engine: Engine, batch: int, jobs: int) -> Drain:
    expected = seed(engine, jobs)
    dsn = make_url(URL).set(drivername="postgresql").render_as_string(hide_password=False)
    drain = timed(partial(run_workers, bare_worker, BareSpec(dsn, batch), WORKERS, jobs))
    check_exactly_once(drain.seen, expected)
    check_succeeded(engine, jobs, attempts=False)
    return drain


def run(plan: Plan, results: Results, _mariadb: Any) -> None:
    engine = prepare()
    table = Table(
        f"PostgreSQL: the in-process worker path against a bare psycopg loop ({WORKERS} workers)",
        ["batch", "jobs", "bare loop jobs/s", "skiplock jobs/s", "share of bare", "CPU µs/job"],
    )
    for batch in (b for b in plan.batches if b >= 10):
        jobs = plan.jobs_for(batch)
        pairs = []
        for repeat in range(plan.repeats):
            runs = [
                partial(bare_drain, engine, batch, jobs),
                partial(skiplock_drain, engine, batch, jobs),
            ]
            first, second = runs if repeat % 2 == 0 else runs[::-1]
            a, b = first(), second()
            bare, mine = (a, b) if repeat % 2 == 0 else (b, a)
            results.add(BARE, WORKERS, batch, bare)
            results.add(PATH, WORKERS, batch, mine)
            pairs.append(mine.rate / bare.rate)
        results.paired.setdefault(PATH, {})[key(WORKERS, batch)] = pairs
        bare_cpu = results.cpu_per_job(BARE, WORKERS, batch) or (0.0, 0.0)
        cpu = results.cpu_per_job(PATH, WORKERS, batch) or (0.0, 0.0)
        ratio = results.ratio(PATH, WORKERS, batch) or 0.0
        table.rows.append(
            [
                str(batch),
                f"{jobs:,}",
                f"{results.rate(BARE, WORKERS, batch) or 0:,.0f}",
                f"{results.rate(PATH, WORKERS, batch) or 0:,.0f}",
                f"{ratio:.0%}",
                f"skiplock {cpu[0]:.0f} / {cpu[1]:.0f}, bare {bare_cpu[0]:.0f} / {bare_cpu[1]:.0f}",
            ]
        )
        print(f"  postgres batch={batch}: {ratio:.0%} of bare", flush=True)
    table.notes.append(
        "CPU: the worker processes / the PostgreSQL server (the machine's busy time over the "
        "drain less the workers'), per job. Share of bare: the median of back-to-back pairs."
    )
    results.tables.append(table)
    engine.dispose()
