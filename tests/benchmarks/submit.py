"""Section 4, submission: the transactional enqueue API in-process, and POST /jobs over HTTP.

Every figure is jobs/s from the start barrier to the last client's last commit; afterwards
the table must hold exactly the jobs the clients were told were created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Engine

from common.db import make_engine
from common.enqueue import NewJob, enqueue, enqueue_many
from tests.benchmarks.bench_db import BenchError, check_exactly_once, empty, job_ids
from tests.benchmarks.plan import MARIADB_URL, NOOP_TYPE, Plan
from tests.benchmarks.procs import run_workers
from tests.benchmarks.results import Results, Table

BULK_SIZE = 1000  # jobs per enqueue_many call and per POST /jobs/bulk (its maximum)


@dataclass(frozen=True)
class SubmitSpec:
    url: str
    jobs: int  # this client's share
    bulk: int  # jobs per call; 1 = enqueue() one job per transaction


def enqueue_client(spec: SubmitSpec, ready: Callable[[], None]) -> list[int]:
    """Enqueue ``spec.jobs`` no-op jobs, ``spec.bulk`` per transaction; return their ids."""
    engine = make_engine(spec.url)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    ids: list[int] = []
    ready()
    for start in range(0, spec.jobs, spec.bulk):
        size = min(spec.bulk, spec.jobs - start)
        with engine.begin() as conn:
            if spec.bulk == 1:
                ids.append(enqueue(conn, NewJob(type=NOOP_TYPE)).id)
            else:
                ids.extend(enqueue_many(conn, [NewJob(type=NOOP_TYPE)] * size))
    engine.dispose()
    return ids


def measure(
    body: Callable[[Any, Callable[[], None]], list[int]],
    make_spec: Callable[[int], Any],
    clients: int,
    jobs: int,
    engine: Engine,
) -> float:
    """jobs/s of ``clients`` processes each submitting ``jobs / clients`` jobs."""
    empty(engine)
    drain = run_workers(body, make_spec(jobs // clients), clients, jobs // clients * clients)
    stored = job_ids(engine)
    check_exactly_once(drain.seen, stored)
    if len(stored) != drain.jobs:
        raise BenchError(f"{len(stored)} jobs stored, {drain.jobs} submitted")
    return drain.rate


def run(plan: Plan, results: Results, engine: Engine) -> None:
    table = Table("Submission in-process (common.enqueue, MariaDB)", ["how", "clients", "jobs/s"])
    for clients in (1, 4):
        for label, bulk, jobs in (
            (f"enqueue_many, {BULK_SIZE} jobs per transaction", BULK_SIZE, plan.submit_jobs),
            ("enqueue, 1 job per transaction", 1, plan.submit_single_jobs),
        ):
            rate = measure(
                enqueue_client,
                partial(SubmitSpec, MARIADB_URL, bulk=bulk),
                clients,
                jobs,
                engine,
            )
            name = "enqueue_many" if bulk > 1 else "enqueue"
            results.figures[f"submit.{name}.c{clients}"] = rate
            table.rows.append([label, str(clients), f"{rate:,.0f}"])
            print(f"  {label:<45} clients={clients} {rate:>9,.0f} jobs/s")
    results.tables.append(table)
