"""Section `listing`: GET /jobs's page queries on 10,000 and 1,000,000 finished jobs.

Each size: that many SUCCESS jobs in 5 queues (bulk SQL), with 300 DLQ jobs spread among them,
then common.queries.list_jobs (what GET /jobs runs, in-process) timed ``plan.claim_samples``
times per case: the DLQ's first page (alone and with a queue), and SUCCESS's first and 100th
page (50 jobs a page, the 100th reached by its cursor). Flat means the 1M figures are those of
10k. What the listing's index costs the write path is measured by
tests/benchmarks/dashboard_queries.py (the drain with and without migration 0005's indexes).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from sqlalchemy import Engine

from common.maintenance import JobFilter
from common.queries import list_jobs
from common.states import Status
from tests.benchmarks.bench_db import analyze, empty, settle
from tests.benchmarks.plan import Plan
from tests.benchmarks.results import Results, Table

PAGE = 50
DLQ_JOBS = 300
QUEUES = 5
_SEED = """
INSERT INTO jobs (queue, type, payload, status, priority, run_at, attempts, max_attempts,
                  created_at, updated_at, started_at, finished_at)
SELECT CONCAT('q', MOD(seq, {queues})), 'noop', '{{}}',
       IF(MOD(seq, {every}) = 0, 'DLQ', 'SUCCESS'), 0, UTC_TIMESTAMP(6), 1, 1,
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)
FROM seq_1_to_{n}
"""
CASES: dict[str, tuple[JobFilter, int]] = {  # name -> (filter, page number)
    "status=DLQ, page 1": (JobFilter(status=Status.DLQ), 1),
    "status=DLQ&queue=q1, page 1": (JobFilter(status=Status.DLQ, queue="q1"), 1),
    "status=SUCCESS, page 1": (JobFilter(status=Status.SUCCESS), 1),
    "status=SUCCESS, page 100": (JobFilter(status=Status.SUCCESS), 100),
    "status=SUCCESS&queue=q1, page 100": (JobFilter(status=Status.SUCCESS, queue="q1"), 100),
}


def seed_finished(engine: Engine, finished: int) -> None:
    """``finished`` jobs, one in every finished/DLQ_JOBS of them DLQ, the rest SUCCESS."""
    empty(engine)
    sql = _SEED.format(queues=QUEUES, every=max(finished // DLQ_JOBS, 1), n=finished)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    analyze(engine)
    settle(engine)


def cursor_of(engine: Engine, where: JobFilter, page: int) -> int | None:
    """The cursor that GET /jobs hands out for page ``page`` (None for the first)."""
    before = None
    with engine.connect() as conn:
        for _ in range(page - 1):
            _, before = list_jobs(conn, where, limit=PAGE, before_id=before)
    return before


def timed(samples: int, call: Callable[[], object]) -> tuple[float, float]:
    """p50 and p95 of ``call`` in ms."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def run(plan: Plan, results: Results, engine: Engine) -> None:
    sizes = plan.claim_finished
    table = Table(
        "Listing GET /jobs in-process (common.queries.list_jobs, 50 a page, MariaDB)",
        ["page"] + [f"{size:,} finished: p50 / p95 ms" for size in sizes],
    )
    cells: dict[str, list[str]] = {name: [] for name in CASES}
    for size in sizes:
        seed_finished(engine, size)
        for name, (where, page) in CASES.items():
            before = cursor_of(engine, where, page)

            def one_page(
                where: JobFilter = where, before: int | None = before, page: int = page
            ) -> None:
                with engine.connect() as conn:
                    rows, _ = list_jobs(conn, where, limit=PAGE, before_id=before)
                    assert rows, f"{where} page {page} is empty"

            p50, p95 = timed(plan.claim_samples, one_page)
            results.figures[f"listing.{size}.{name}.p50_ms"] = p50
            cells[name].append(f"{p50:.2f} / {p95:.2f}")
            print(f"  {size:>9,} finished  {name:<36} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms")
    table.rows = [[name, *values] for name, values in cells.items()]
    table.notes.append(
        f"{DLQ_JOBS} DLQ jobs spread among the finished ones, {QUEUES} queues; each figure "
        "includes the pool checkout, as a request does. Target: p50 at most 5 ms, flat."
    )
    results.tables.append(table)
    empty(engine)
