"""Section 5, pickup latency: one worker tick running, jobs submitted one by one at a steady rate.

Latency is started_at - created_at of each job, both from the database's clock: the time from
the submitting transaction to the claim that started it. The tick is the real work_tick with
the deployed defaults (batch 10, 50 ms poll); it promotes CREATED jobs itself when idle.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from common.db import make_engine
from common.enqueue import NewJob, enqueue
from tests.benchmarks import inprocess
from tests.benchmarks.bench_db import check_all_succeeded, check_exactly_once, empty, job_ids
from tests.benchmarks.plan import MARIADB_URL, NOOP_TYPE, Plan
from tests.benchmarks.procs import WorkerBody, percentile, run_group
from tests.benchmarks.results import Results, Table

SLACK_SECONDS = 30.0


@dataclass(frozen=True)
class PacedSpec:
    url: str
    rate_per_second: float
    jobs: int


def paced_submitter(spec: PacedSpec, ready: Callable[[], None]) -> list[int]:
    """Enqueue one job per transaction, ``rate_per_second`` of them, on a fixed schedule."""
    engine = make_engine(spec.url)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    ready()
    start = time.monotonic()
    for n in range(spec.jobs):
        wait = start + n / spec.rate_per_second - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        with engine.begin() as conn:
            enqueue(conn, NewJob(type=NOOP_TYPE))
    engine.dispose()
    return []


def latencies_ms(engine: Engine) -> list[float]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT TIMESTAMPDIFF(MICROSECOND, created_at, started_at) / 1000.0 FROM jobs"
        ).scalars()
        return [float(ms) for ms in rows]


def run(plan: Plan, results: Results, engine: Engine) -> None:
    jobs = int(plan.latency_rate_per_second * plan.latency_seconds)
    empty(engine)
    budget = plan.latency_seconds + SLACK_SECONDS
    tick = inprocess.TickSpec(MARIADB_URL, 10, budget, max_jobs=jobs, stop_when_idle=False)
    submitter = PacedSpec(MARIADB_URL, plan.latency_rate_per_second, jobs)
    members: list[tuple[WorkerBody, Any]] = [
        (inprocess.worker, tick),
        (paced_submitter, submitter),
    ]
    drain = run_group(members, jobs, timeout_seconds=budget + 10)
    check_exactly_once(drain.seen, job_ids(engine))
    check_all_succeeded(engine, jobs, attempts_table=True)
    ms = latencies_ms(engine)
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    results.figures["latency.p50_ms"], results.figures["latency.p99_ms"] = p50, p99
    table = Table(
        "Pickup latency (one worker tick running, in-process)",
        ["submitted", "p50 ms", "p99 ms", "max ms"],
        [
            [
                f"{jobs:,} jobs at {plan.latency_rate_per_second:g}/s",
                f"{p50:.1f}",
                f"{p99:.1f}",
                f"{max(ms):.1f}",
            ]
        ],
    )
    results.tables.append(table)
    print(f"  pickup latency p50 {p50:.1f} ms, p99 {p99:.1f} ms over {jobs} jobs")
