"""The dashboard's queries (and the metrics scrape) on a table of 1,000,000 finished jobs.

`python -m tests.benchmarks.dashboard_queries` (MariaDB at BENCH_MARIADB_URL, default
127.0.0.1:3306 root, database `skiplock_bench_dashboard`, created and dropped here). It seeds
1,000,000 finished jobs (98% SUCCESS, 1% DLQ in 10 fingerprint groups, 1% CANCELLED, finished
over the last ~7 days, one attempt row each) and 1,750 unfinished ones, then times each query
the dashboard runs (median of 5) and prints which index MariaDB reads for it (EXPLAIN). Then it
drains 20,000 no-op jobs with and without the metrics scraped back to back, and with and without
migration 0003's indexes. Prints a Markdown report; the figures are in docs/OPERATIONS.md.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from common import stats
from common.config import DEFAULTS
from common.db import make_engine, migrate
from common.dlq import dlq_groups
from common.fingerprint import fingerprint
from common.handlers.catalog import build_registry
from common.maintenance import JobFilter
from common.metrics import exposition
from common.queries import attempt_history, get_job, list_jobs
from common.states import Status
from common.worker import TickOptions, work_tick
from tests.databases import statements_sent

_HOUR = timedelta(hours=1)
URL = os.environ.get(
    "BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/skiplock_bench_dashboard"
)
FINISHED = 1_000_000
DRAIN_JOBS = 20_000
REASONS = (
    "mailbox full",
    "relay denied",
    "no such user",
    "spam rejected",
    "quota hit",
    "tls failed",
    "greylisted",
    "blocked",
    "unknown domain",
    "timeout",
)
GROUPS = [fingerprint("email", f"SMTP refused: {reason}") for reason in REASONS]
NEW_INDEXES = {
    "jobs": ("ix_jobs_error_fingerprint", "ix_jobs_status_queue"),
    "job_attempts": ("ix_job_attempts_ended_at",),
}

_REASONS = ", ".join(f"'{reason}'" for reason in REASONS)
_SEED_FINISHED = f"""
INSERT INTO jobs (queue, type, payload, status, priority, run_at, attempts, max_attempts,
                  last_error, result, created_at, updated_at, started_at, finished_at,
                  error_fingerprint)
SELECT CONCAT('q', seq % 5), ELT(1 + seq % 4, 'email', 'pdf', 'file_upload', 'noop'), '{{}}',
       CASE seq % 100 WHEN 0 THEN 'DLQ' WHEN 1 THEN 'CANCELLED' ELSE 'SUCCESS' END, 0,
       t - INTERVAL 2 SECOND, 1, 1,
       IF(seq % 100 = 0, CONCAT('SMTP refused: ', ELT(1 + (seq DIV 100) % 10, {_REASONS})), NULL),
       IF(seq % 100 > 1, '{{"ok": true}}', NULL),
       t - INTERVAL 3 SECOND, t, t - INTERVAL 50000 MICROSECOND, t,
       IF(seq % 100 = 0, ELT(1 + (seq DIV 100) % 10, {", ".join(f"'{g}'" for g in GROUPS)}), NULL)
FROM (SELECT seq, UTC_TIMESTAMP(6) - INTERVAL ({FINISHED} - seq) * 600000 MICROSECOND AS t
      FROM seq_1_to_{FINISHED}) AS s
"""
_SEED_ATTEMPTS = """
INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, ended_at, outcome, error)
SELECT id, 1, 'bench', started_at, finished_at,
       CASE status WHEN 'SUCCESS' THEN 'success' ELSE 'error' END, last_error
FROM jobs WHERE started_at IS NOT NULL
"""
_SEED_UNFINISHED = """
INSERT INTO jobs (queue, type, payload, status, priority, run_at, attempts, max_attempts,
                  created_at, updated_at)
SELECT {queue}, '{type}', '{{}}', :status, 0,
       UTC_TIMESTAMP(6) + INTERVAL :run_in SECOND, 0, 5, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)
FROM seq_1_to_{n}
"""


def fresh(url: str) -> Engine:
    parsed = make_url(url)
    server = create_engine(parsed.set(database=""), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {parsed.database}"))
        conn.execute(text(f"CREATE DATABASE {parsed.database}"))
    server.dispose()
    migrate(url)
    return make_engine(url)


def seed(engine: Engine) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(_SEED_FINISHED))
        conn.execute(text(_SEED_ATTEMPTS))
        for status, count, run_in in (
            ("SCHEDULED", 1000, -5),
            ("CREATED", 500, 3600),
            ("FAILED", 250, 60),
        ):
            sql = _SEED_UNFINISHED.format(n=count, queue="CONCAT('q', seq % 5)", type="noop")
            conn.execute(text(sql), {"status": status, "run_in": run_in})
    with engine.connect() as conn:
        conn.execute(text("ANALYZE TABLE jobs, job_attempts"))
    return time.perf_counter() - started


def explain(engine: Engine, statements: list[tuple[str, Any]]) -> list[str]:
    """Per statement, the tables MariaDB reads and the index (key) of each, with its row
    estimate and Extra."""
    plans = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT") or "job" not in statement:
                continue
            cursor.execute("EXPLAIN " + statement, parameters)
            names = [d[0] for d in cursor.description]
            for row in cursor.fetchall():
                r = dict(zip(names, row, strict=True))
                plans.append(
                    f"{r['table']}: {r['type']} key={r['key']} rows~{r['rows']}"
                    + (f" ({r['Extra']})" if r["Extra"] else "")
                )
    finally:
        raw.close()
    return plans


def timed(engine: Engine, work: Callable[[Any], object], runs: int = 5) -> tuple[float, list[str]]:
    """The median time of ``work(conn)`` in ms, and the plans of the statements it ran."""
    times = []
    for _ in range(runs):
        with engine.connect() as conn:
            started = time.perf_counter()
            work(conn)
            times.append((time.perf_counter() - started) * 1000)
    with statements_sent(engine) as statements, engine.connect() as conn:
        work(conn)
    return statistics.median(times), explain(engine, statements)


def queries(engine: Engine) -> dict[str, Callable[[Any], object]]:
    with engine.connect() as conn:
        middle = conn.execute(text("SELECT MAX(id) DIV 2 FROM jobs")).scalar_one()
        dead = conn.execute(text("SELECT MAX(id) FROM jobs WHERE status = 'DLQ'")).scalar_one()

    def page(**where: Any) -> Callable[[Any], object]:
        before = where.pop("before", None)
        return lambda c: list_jobs(c, JobFilter(**where), limit=50, before_id=before)

    return {
        "overview: jobs by queue and status (finished ones up to 10,000)": stats.overview_counts,
        "overview: oldest due job per queue": lambda c: stats.oldest_due(c, stats.db_now(c)),
        "overview: finished in the last hour": lambda c: stats.finished_since(
            c, stats.db_now(c).replace(microsecond=0) - _HOUR
        ),
        "overview: failed attempts in the last hour": lambda c: stats.failed_attempts_since(
            c, stats.db_now(c) - _HOUR
        ),
        "overview: throughput chart (60 minutes)": stats.throughput,
        "overview page (all of the above)": stats.overview,
        "jobs: newest 50": page(),
        "jobs: status=SUCCESS": page(status=Status.SUCCESS),
        "jobs: status=DLQ": page(status=Status.DLQ),
        "jobs: status=SCHEDULED, queue=q3": page(status=Status.SCHEDULED, queue="q3"),
        "jobs: status=SUCCESS, queue=q3, page at the middle": page(
            status=Status.SUCCESS, queue="q3", before=middle
        ),
        "jobs: queue=q3": page(queue="q3"),
        "jobs: type=pdf": page(type="pdf"),
        "jobs: status=DLQ, type=email": page(status=Status.DLQ, type="email"),
        "job page: a job and its attempts": lambda c: (get_job(c, dead), attempt_history(c, dead)),
        "dlq: groups by fingerprint": dlq_groups,
        "metrics: every job counted by queue and status": stats.counts,
        "metrics: attempts and their durations by queue, type, outcome": stats.attempt_totals,
        "metrics: queue waits by queue": stats.queue_waits,
    }


def drain(engine: Engine, scrape: bool) -> tuple[float, int]:
    """Jobs per second draining DRAIN_JOBS no-op jobs in-process; ``scrape``: the metrics are
    read back to back meanwhile (the worst a Prometheus could do)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM job_attempts WHERE worker_id = 'drainer'"))
        conn.execute(text("DELETE FROM jobs WHERE queue = 'drain'"))
        sql = _SEED_UNFINISHED.format(n=DRAIN_JOBS, queue="'drain'", type="drain")
        conn.execute(text(sql), {"status": "SCHEDULED", "run_in": -1})
    registry = build_registry(DEFAULTS)
    registry.job_type("drain")(lambda job, ctx: None)
    options = TickOptions(
        worker_id="drainer",
        budget_seconds=600,
        batch_size=100,
        queues=["drain"],
        stop_when_idle=True,
    )
    stop, scrapes = threading.Event(), []

    def scraper() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            exposition(engine)
            scrapes.append(time.perf_counter() - started)

    thread = threading.Thread(target=scraper, daemon=True)
    if scrape:
        thread.start()
    started = time.perf_counter()
    summary = work_tick(engine, registry, options)
    elapsed = time.perf_counter() - started
    stop.set()
    if scrape:
        thread.join()
    assert summary.succeeded == DRAIN_JOBS, summary
    return summary.succeeded / elapsed, len(scrapes)


def drop_new_indexes(engine: Engine) -> None:
    with engine.begin() as conn:
        for table, names in NEW_INDEXES.items():
            for name in names:
                conn.execute(text(f"DROP INDEX {name} ON {table}"))


def main() -> None:
    engine = fresh(URL)
    print(f"seeded {FINISHED:,} finished jobs in {seed(engine):.0f} s\n")
    print("| query | median ms | what MariaDB reads (EXPLAIN) |\n|---|---:|---|")
    for name, work in queries(engine).items():
        ms, plans = timed(engine, work)
        print(f"| {name} | {ms:.1f} | {'<br>'.join(plans)} |")
    started = time.perf_counter()
    size = len(exposition(engine))
    print(f"\nmetrics scrape: {(time.perf_counter() - started) * 1000:.0f} ms, {size:,} bytes")
    (plain, _), (scraped, scrapes) = drain(engine, scrape=False), drain(engine, scrape=True)
    print(f"\ndrain of {DRAIN_JOBS:,} no-op jobs, 1 in-process tick, batch 100, 1M finished rows:")
    print(f"  without scrapes {plain:.0f} jobs/s, scraped back to back {scraped:.0f} jobs/s")
    print(f"  ({scrapes} scrapes finished during that drain)")
    drop_new_indexes(engine)
    without, _ = drain(engine, scrape=False)
    print(f"  without migration 0003's indexes {without:.0f} jobs/s (with: {plain:.0f})")
    engine.dispose()
    server = create_engine(make_url(URL).set(database=""), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {make_url(URL).database}"))


if __name__ == "__main__":
    main()
