"""Section `whole`: the whole path, as a user of the README runs it (issue 15).

No SQL seeding: the jobs are bulk-submitted over HTTP (1,000 per request), so they start
CREATED and the ticks promote them; 4 clients then POST /ticks/work with a short budget and a
queue filter, back to back, to a warmed local stack on MariaDB. The drain is timed from its
start to the last finished_at, on the database's clock, and paired with a bare-loop run of as
many SQL-seeded jobs (which need no promotion) right before or after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Engine

from tests.benchmarks import bare
from tests.benchmarks.bench_db import BenchError, check_all_succeeded, empty
from tests.benchmarks.over_http import CpuUntilEmpty, db_now, remaining_jobs, warm
from tests.benchmarks.plan import NOOP_TYPE, Plan
from tests.benchmarks.procs import Drain, run_workers
from tests.benchmarks.results import Results, Table
from tests.benchmarks.stack import Client, Served, local_stack

STACK_PORT = 18084
WORKERS = 4
TICK_BUDGET_SECONDS = 5.0  # the README's manual tick
BULK_SIZE = 1_000
QUEUE = "default"  # the no-op type's queue, named by every tick as a user's tick would
PATH = "whole"


@dataclass(frozen=True)
class FilteredTicks:
    base_url: str
    budget_seconds: float
    queue: str


def filtered_tick_client(spec: FilteredTicks, ready: Callable[[], None]) -> list[int]:
    """POST ticks of one queue back to back until no job is left; statuses of failed ticks."""
    client = Client(spec.base_url)
    body = {"budget_seconds": spec.budget_seconds, "queues": [spec.queue]}
    failed: list[int] = []
    ready()
    while True:
        status, answer = client.call("POST", "/ticks/work", body)
        if status >= 500:
            failed.append(status)
        elif status != 200:
            raise BenchError(f"POST /ticks/work answered {status}: {answer}")
        if remaining_jobs() == 0:
            break
    client.close()
    return failed


def submit_created(base_url: str, jobs: int) -> None:
    """Bulk-submit ``jobs`` no-op jobs over HTTP: they are CREATED, as every submission is."""
    client = Client(base_url)
    for start in range(0, jobs, BULK_SIZE):
        count = min(BULK_SIZE, jobs - start)
        client.ok("POST", "/jobs/bulk", {"jobs": [{"type": NOOP_TYPE}] * count})
    client.close()


def whole_drain(base_url: str, jobs: int, engine: Engine, stack: Served) -> Drain:
    """Submit over HTTP, then drain with WORKERS filtered tick clients; timed on the DB clock."""
    empty(engine)
    submit_created(base_url, jobs)
    started: list[Any] = []
    cpu = CpuUntilEmpty(stack.pids())

    def note_start() -> None:
        started.append(db_now(engine))
        cpu.start()

    drain = run_workers(
        filtered_tick_client,
        FilteredTicks(base_url, TICK_BUDGET_SECONDS, QUEUE),
        WORKERS,
        jobs,
        on_start=note_start,
    )
    server_cpu, db_cpu = cpu.spent()
    if drain.seen:
        raise BenchError(f"{len(drain.seen)} ticks answered 5xx")
    check_all_succeeded(engine, jobs, attempts_table=True)
    with engine.connect() as conn:
        last = conn.exec_driver_sql("SELECT MAX(finished_at) FROM jobs").scalar_one()
    return Drain(WORKERS, jobs, (last - started[0]).total_seconds(), [], server_cpu, db_cpu)


def run(plan: Plan, results: Results, engine: Engine) -> None:
    jobs = plan.whole_jobs
    table = Table(
        f"Whole path: {jobs:,} jobs submitted over HTTP, drained by {WORKERS} HTTP ticks "
        f"(budget {TICK_BUDGET_SECONDS:g} s, queue filter)",
        ["batch", "bare loop jobs/s", "whole path jobs/s", "share of bare", "CPU µs/job"],
    )
    for batch in (b for b in plan.batches if b >= 10):
        with local_stack(STACK_PORT, WORKERS, batch).start() as stack:
            stack.wait_until_answering("GET", "/openapi.json", None, 60)
            warm(stack.base_url, WORKERS)
            mine = partial(whole_drain, stack.base_url, jobs, engine, stack)
            bare.paired(results, PATH, (WORKERS, batch, jobs), plan.repeats, mine, engine)
        ratio = results.ratio(PATH, WORKERS, batch) or 0.0
        cpu = results.cpu_per_job(PATH, WORKERS, batch) or (0.0, 0.0)
        bare_cpu = results.cpu_per_job("bare", WORKERS, batch) or (0.0, 0.0)
        table.rows.append(
            [
                str(batch),
                f"{results.rate('bare', WORKERS, batch) or 0:,.0f}",
                f"{results.rate(PATH, WORKERS, batch) or 0:,.0f}",
                f"{ratio:.0%}",
                f"{cpu[0]:.0f} / {cpu[1]:.0f} (bare {bare_cpu[0]:.0f} / {bare_cpu[1]:.0f})",
            ]
        )
    table.notes.append(
        "Share of bare: the median of back-to-back pairs. CPU: the gateway's processes (where "
        "the ticks run) / MariaDB, per job, until the queue is empty; the bare loop's are its "
        "worker processes / MariaDB. The submission itself is not timed."
    )
    results.tables.append(table)
