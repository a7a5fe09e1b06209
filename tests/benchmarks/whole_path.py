"""Section `whole`: the whole path, as a user of the README runs it (issue 15).

No SQL seeding: the jobs are bulk-submitted over HTTP (1,000 per request), so they start
CREATED and the ticks promote them; 4 clients then POST /ticks/work with a short budget and a
queue filter, back to back, to a warmed local stack on MariaDB. The drain is timed from its
start to the last finished_at, on the database's clock, and paired with a bare-loop run of as
many SQL-seeded jobs (which need no promotion) right before or after it.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import Engine

from tests.benchmarks import bare
from tests.benchmarks.bench_db import BenchError
from tests.benchmarks.over_http import TICK_ERRORS, http_drain, warm
from tests.benchmarks.plan import NOOP_TYPE, Plan
from tests.benchmarks.procs import Drain
from tests.benchmarks.results import Results, Table
from tests.benchmarks.stack import Client, Served, local_stack

STACK_PORT = 18084
WORKERS = 4
TICK_BUDGET_SECONDS = 5.0  # the README's manual tick
BULK_SIZE = 1_000
QUEUE = "default"  # the no-op type's queue, named by every tick as a user's tick would
PATH = "whole"


def submit_created(base_url: str, jobs: int) -> None:
    """Bulk-submit ``jobs`` no-op jobs over HTTP: they are CREATED, as every submission is."""
    client = Client(base_url)
    for start in range(0, jobs, BULK_SIZE):
        count = min(BULK_SIZE, jobs - start)
        client.ok("POST", "/jobs/bulk", {"jobs": [{"type": NOOP_TYPE}] * count})
    client.close()


def whole_drain(base_url: str, jobs: int, engine: Engine, stack: Served) -> Drain:
    """Submit over HTTP, then drain with WORKERS ticks of QUEUE; timed on the DB clock."""
    fill = partial(submit_created, base_url, jobs)
    errors_before = len(TICK_ERRORS)
    drain = http_drain(
        base_url, WORKERS, jobs, TICK_BUDGET_SECONDS, engine, stack, fill=fill, queues=(QUEUE,)
    )
    if len(TICK_ERRORS) > errors_before:
        raise BenchError(f"{len(TICK_ERRORS) - errors_before} ticks answered 500")
    return drain


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
