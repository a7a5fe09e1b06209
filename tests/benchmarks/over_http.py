"""Section 3, skiplock through HTTP: the local stack and single functions, as deployed.

Drains here: W clients each POST /ticks/work to the local stack (gunicorn, one process per
client) until the queue is empty. A tick runs for its budget whatever the queue holds, so the
drain is timed on the database's clock: from the start barrier to the last finished_at.
The section's entry point, with submission, cold starts and memory, is http_functions.run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Engine

from tests.benchmarks import bare
from tests.benchmarks.bench_db import (
    NOOP,
    BenchError,
    JobKind,
    check_all_succeeded,
    empty,
    pymysql_connect,
    seed,
)
from tests.benchmarks.plan import MARIADB_URL, Plan
from tests.benchmarks.procs import Drain, cpu_seconds, database_pids, run_workers
from tests.benchmarks.results import Results
from tests.benchmarks.stack import Client, Served, local_stack

STACK_PORT = 18080
TICK_ERRORS: list[int] = []  # statuses of ticks that answered 500, over the whole section
WATCH_SECONDS = 0.02
# Read from the claim's index (status first), so watching costs the database next to nothing.
ANY_LEFT = (
    "SELECT EXISTS (SELECT 1 FROM jobs"
    " WHERE status IN ('CREATED', 'SCHEDULED', 'RUNNING', 'FAILED'))"
)


@dataclass(frozen=True)
class TickClientSpec:
    base_url: str
    budget_seconds: float
    path: str = "/ticks/work"
    queues: tuple[str, ...] = ()  # the ticks' queue filter; none: every queue


def remaining_jobs(url: str = MARIADB_URL) -> int:
    conn = pymysql_connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM jobs WHERE status <> 'SUCCESS'")
        (count,) = cur.fetchone() or (0,)
    conn.close()
    return int(count)


def tick_client(spec: TickClientSpec, ready: Callable[[], None]) -> list[int]:
    """POST worker ticks one after another until no job is left unfinished.

    Returns the status of every tick that answered 500. A tick that fails still flushed what it
    finished (work_tick's finally), so the drain's database checks stay exact; the count is
    reported (see the report's notes on common/worker.py).
    """
    client = Client(spec.base_url)
    body: dict[str, Any] = {"budget_seconds": spec.budget_seconds}
    if spec.queues:
        body["queues"] = list(spec.queues)
    failed: list[int] = []
    ready()
    while True:
        status, answer = client.call("POST", spec.path, body)
        if status == 500:
            failed.append(status)
        elif status != 200:
            raise BenchError(f"POST {spec.path} answered {status}: {answer}")
        if remaining_jobs() == 0:
            break
    client.close()
    return failed


class CpuUntilEmpty:
    """CPU seconds of ``pids`` and of MariaDB from ``start()`` until no job is left to run.

    The ticks idle until their budget ends after the queue is empty; their polling then is
    no part of the drain, so the count stops when a watcher sees the queue empty.
    """

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.at_start = self.at_empty = (0.0, 0.0)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="cpu-until-empty", daemon=True)

    def start(self) -> None:
        self.at_start = self._now()
        self.thread.start()

    def spent(self) -> tuple[float, float]:
        """(worker, database) CPU seconds up to the empty queue (or now, if it never was)."""
        self.stopped.set()
        self.thread.join()
        return (
            self.at_empty[0] - self.at_start[0],
            self.at_empty[1] - self.at_start[1],
        )

    def _now(self) -> tuple[float, float]:
        return cpu_seconds(self.pids), cpu_seconds(database_pids())

    def _watch(self) -> None:
        conn = pymysql_connect(MARIADB_URL)
        with conn.cursor() as cur:
            while not self.stopped.is_set():
                cur.execute(ANY_LEFT)
                (left,) = cur.fetchone() or (0,)
                conn.commit()
                if not left:
                    break
                time.sleep(WATCH_SECONDS)
        self.at_empty = self._now()
        conn.close()


def db_now(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT UTC_TIMESTAMP(6)").scalar_one()


def http_drain(
    base_url: str,
    workers: int,
    jobs: int,
    budget: float,
    engine: Engine,
    server: Served,
    path: str = "/ticks/work",
    kind: JobKind = NOOP,
    fill: Callable[[], None] | None = None,
    queues: tuple[str, ...] = (),
) -> Drain:
    """Seed ``jobs`` of ``kind`` (or ``fill`` the queue another way), drain them through
    ``workers`` tick clients (of ``queues``, if given), check, and time it on the DB clock.

    The worker CPU counted is the serving processes' (where the ticks run), not the clients',
    and with MariaDB's only until the queue is empty (CpuUntilEmpty).
    """
    empty(engine)
    if fill is None:
        seed(engine, jobs, kind=kind)
    else:
        fill()
    started: list[Any] = []
    cpu = CpuUntilEmpty(server.pids())

    def note_start() -> None:
        started.append(db_now(engine))
        cpu.start()

    drain = run_workers(
        tick_client,
        TickClientSpec(base_url, budget, path, queues),
        workers,
        jobs,
        on_start=note_start,
    )
    server_cpu, db_cpu = cpu.spent()
    check_all_succeeded(engine, jobs, attempts_table=True)
    with engine.connect() as conn:
        last = conn.exec_driver_sql("SELECT MAX(finished_at) FROM jobs").scalar_one()
    TICK_ERRORS.extend(drain.seen)
    seconds = (last - started[0]).total_seconds()
    return Drain(workers, jobs, seconds, [], server_cpu, db_cpu)


def warm(base_url: str, processes: int) -> None:
    """Give each gateway process its engine and first connection before anything is timed."""

    def one(_: int) -> None:
        client = Client(base_url)
        client.call("POST", "/ticks/work", {"budget_seconds": 1.0})  # a 500 here is the same bug
        client.close()

    with ThreadPoolExecutor(processes * 2) as pool:
        list(pool.map(one, range(processes * 4)))


def tick_budget(results: Results, workers: int, batch: int, jobs: int) -> float:
    """A tick budget that outlasts the drain (ticks idle until it ends; the loop covers a miss)."""
    guess = results.rate("inprocess", workers, batch) or results.rate("bare", workers, batch)
    expected = jobs / guess if guess else 10.0
    return min(50.0, max(3.0, 1.5 * expected + 1.5))


def run_drains(plan: Plan, results: Results, engine: Engine) -> None:
    workers_max = max(plan.http_workers)
    for batch in (b for b in plan.batches if b >= 10):
        jobs = plan.jobs_for(batch)
        with local_stack(STACK_PORT, workers_max, batch).start() as stack:
            stack.wait_until_answering("GET", "/openapi.json", None, 60)
            warm(stack.base_url, workers_max)
            for workers in plan.http_workers:
                budget = tick_budget(results, workers, batch, jobs)
                bare.paired(
                    results,
                    "http",
                    (workers, batch, jobs),
                    plan.repeats,
                    partial(http_drain, stack.base_url, workers, jobs, budget, engine, stack),
                    engine,
                )
    if TICK_ERRORS:
        results.figures["http.tick_errors"] = len(TICK_ERRORS)
        print(f"  ({len(TICK_ERRORS)} tick requests answered 500; see build/benchmarks/*.log)")
