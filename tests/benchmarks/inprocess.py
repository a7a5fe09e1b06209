"""Section 2: skiplock's worker path in-process, the real common.worker.work_tick.

Each process builds its engine and a Registry holding one no-op type, then runs one tick until
the queue is empty: claim, run, finish with fencing and attempt records, exactly as deployed
minus HTTP. The handler records its job id, so the drain check sees duplicates and losses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Engine

from common.db import make_engine
from common.handlers.registry import Job, JobContext, Registry
from common.worker import TickOptions, work_tick
from tests.benchmarks import bare
from tests.benchmarks.bench_db import check_all_succeeded, check_exactly_once, empty, job_ids, seed
from tests.benchmarks.plan import MARIADB_URL, NOOP_TYPE, Plan
from tests.benchmarks.procs import Drain, run_workers
from tests.benchmarks.results import Results

_SEEN: list[int] = []


@dataclass(frozen=True)
class TickSpec:
    url: str
    batch: int
    budget_seconds: float = 600.0
    max_jobs: int | None = None
    stop_when_idle: bool = True


def noop_registry() -> Registry:
    """A registry with the benchmark's no-op type, whose handler notes the job's id."""
    registry = Registry()
    registry.job_type(NOOP_TYPE, timeout_seconds=1)(_noop)
    return registry


def _noop(job: Job, ctx: JobContext) -> None:
    _SEEN.append(job.id)


def worker(spec: TickSpec, ready: Callable[[], None]) -> list[int]:
    """One worker tick (by default stopping when the queue is empty); returns the ids it ran."""
    engine = make_engine(spec.url)
    with engine.connect() as conn:  # open the pool's first connection before the start
        conn.exec_driver_sql("SELECT 1")
    options = TickOptions(
        worker_id=f"bench-{os.getpid()}",
        budget_seconds=spec.budget_seconds,
        batch_size=spec.batch,
        max_jobs=spec.max_jobs,
        stop_when_idle=spec.stop_when_idle,
    )
    registry = noop_registry()
    ready()
    work_tick(engine, registry, options)
    engine.dispose()
    return list(_SEEN)


def drain(url: str, workers: int, batch: int, jobs: int, engine: Engine) -> Drain:
    """Seed ``jobs`` due jobs, drain them with ``workers`` ticks, check each ran once."""
    empty(engine)
    seed(engine, jobs)
    expected = job_ids(engine)
    result = run_workers(worker, TickSpec(url, batch), workers, jobs)
    check_exactly_once(result.seen, expected)
    check_all_succeeded(engine, jobs, attempts_table=True)
    return result


def run(plan: Plan, results: Results, engine: Any) -> None:
    """Every configuration, each run paired with a bare-loop run on the same jobs."""
    for batch in plan.batches:
        for workers in plan.workers:
            jobs = plan.jobs_for(batch)
            bare.paired(
                results,
                "inprocess",
                (workers, batch, jobs),
                plan.repeats,
                partial(drain, MARIADB_URL, workers, batch, jobs, engine),
                engine,
            )
