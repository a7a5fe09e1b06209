"""Section `controls`: what queue controls cost the worker path (issue 13).

The same no-op drain as the in-process section (4 worker processes, SQL-seeded due jobs,
batch 10 and 100), with the queue uncontrolled, then with controls that never bind: the cost
of counting, locking the queue's row and taking tokens. Each controlled drain is paired with
an uncontrolled one run right before or after it; the ratio is the median of the pairs.
"""

from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy import Engine, delete

from common.models import queue_changes, queue_settings
from common.queue_controls import QueueControls, RateLimit, set_controls
from tests.benchmarks import inprocess
from tests.benchmarks.plan import MARIADB_URL, Plan
from tests.benchmarks.procs import Drain
from tests.benchmarks.results import Results, Table

WORKERS = 4
QUEUE = "default"  # the seeded jobs' queue
SETUPS: dict[str, QueueControls | None] = {
    "no controls (the in-process path)": None,
    "max_running 100,000 (never binds)": QueueControls(max_running=100_000),
    "max_running_per_key 100,000 (never binds)": QueueControls(max_running_per_key=100_000),
    "rate limit 1,000,000/s (never binds)": QueueControls(
        rate_limit=RateLimit(per_second=1_000_000, burst=100_000)
    ),
}


def run(plan: Plan, results: Results, engine: Engine) -> None:
    table = Table(
        f"Queue controls on the worker path ({WORKERS} in-process workers, no-op jobs)",
        ["controls", "batch", "jobs/s", "x no controls", "CPU µs/job, worker / MariaDB"],
        notes=[
            "'x no controls' is the median ratio of pairs of drains run back to back, the "
            "controlled one against the same drain with no queue controls at all. A queue with "
            "controls is claimed queue by queue, under a lock on its queue_settings row (a "
            "claim of another tick skips a locked queue rather than wait), with a count of its "
            "RUNNING jobs (max_running) or by key (per key), and a token bucket update (rate). "
            "That limits hold is shown by tests/integration/test_queue_controls_concurrency.py "
            "(a 20/s limit started 207 jobs in 10.1 s with a burst of 5).",
        ],
    )
    for batch in plan.batches:
        if batch < 10:
            continue
        jobs = plan.jobs_for(batch)
        for name, controls in SETUPS.items():
            drains, ratios = _paired(engine, batch, jobs, controls, plan.repeats)
            rate = statistics.median(d.rate for d in drains)
            worker = statistics.median(1e6 * d.worker_cpu_seconds / d.jobs for d in drains)
            db = statistics.median(1e6 * d.db_cpu_seconds / d.jobs for d in drains)
            ratio = f"{statistics.median(ratios):.2f}" if ratios else "1"
            table.rows.append([name, str(batch), f"{rate:,.0f}", ratio, f"{worker:.0f} / {db:.0f}"])
            print(f"  {name:<44} batch={batch:<3} {rate:>9,.0f} jobs/s  x{ratio}", flush=True)
    _set(engine, None)
    results.tables.append(table)


def _paired(
    engine: Engine, batch: int, jobs: int, controls: QueueControls | None, repeats: int
) -> tuple[list[Drain], list[float]]:
    drains, ratios = [], []
    for repeat in range(repeats):
        order = [controls, None] if repeat % 2 == 0 else [None, controls]
        got: dict[Any, Drain] = {}
        for setup in order if controls is not None else [None]:
            _set(engine, setup)
            got[setup] = inprocess.drain(MARIADB_URL, WORKERS, batch, jobs, engine)
        drains.append(got[controls])
        if controls is not None:
            ratios.append(got[controls].rate / got[None].rate)
    return drains, ratios


def _set(engine: Engine, controls: QueueControls | None) -> None:
    with engine.begin() as conn:
        conn.execute(delete(queue_changes))
        conn.execute(delete(queue_settings))
    if controls is not None:
        set_controls(engine, QUEUE, controls, changed_by="benchmark")
