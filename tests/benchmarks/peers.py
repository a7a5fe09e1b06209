"""Section 7, peers on the same box and run: procrastinate (PostgreSQL) and rq (Redis).

Each drains the same number of no-op jobs with 2 and 4 worker processes, behind the same
start barrier as skiplock, and is checked the same way: every job's task ran exactly once.
procrastinate runs an async task with its defaults (concurrency 1 per worker, polling, no
LISTEN/NOTIFY needed for a backlog); rq runs SimpleWorker (no fork per job: its fastest worker).
The io section drains sleeping jobs through the same functions (see ``PeerRun``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import redis
import rq
from procrastinate.types import JSONValue
from psycopg import sql

from tests.benchmarks import peer_tasks
from tests.benchmarks.bench_db import BenchError, check_exactly_once
from tests.benchmarks.plan import POSTGRES_URL, REDIS_URL, Plan
from tests.benchmarks.procs import Drain, run_workers
from tests.benchmarks.results import Results

DEFER_CHUNK = 1000


@dataclass(frozen=True)
class PeerRun:
    """What a peer's drain runs: no-op jobs, or jobs that each sleep ``sleep_seconds``; and
    how many jobs each procrastinate worker runs at once (rq's always run one)."""

    sleep_seconds: float = 0.0
    concurrency: int = 1


def _recreate_postgres_database() -> None:
    server, _, name = POSTGRES_URL.rpartition("/")
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def procrastinate_fill(jobs: int, run: PeerRun) -> None:
    """A fresh database with procrastinate's schema and ``jobs`` deferred jobs of ``run``."""
    _recreate_postgres_database()
    app = peer_tasks.app
    task = peer_tasks.procrastinate_sleep if run.sleep_seconds else peer_tasks.procrastinate_noop
    extra: dict[str, JSONValue] = {"seconds": run.sleep_seconds} if run.sleep_seconds else {}
    with app.open():
        app.schema_manager.apply_schema()
        for start in range(0, jobs, DEFER_CHUNK):
            numbers = range(start, min(start + DEFER_CHUNK, jobs))
            kwargs: list[dict[str, JSONValue]] = [{"n": n, **extra} for n in numbers]
            task.batch_defer(*kwargs)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        # As autovacuum would on a running database: with the statistics of an empty table,
        # PostgreSQL's plan for procrastinate's fetch reads the whole backlog on every fetch.
        conn.execute("ANALYZE procrastinate_jobs")


def procrastinate_worker(run: PeerRun, ready: Callable[[], None]) -> list[int]:
    async def main() -> None:
        async with peer_tasks.app.open_async():
            ready()
            await peer_tasks.app.run_worker_async(
                queues=[peer_tasks.QUEUE],
                wait=False,
                install_signal_handlers=False,
                concurrency=run.concurrency,
            )

    asyncio.run(main())
    return list(peer_tasks.SEEN)


def _procrastinate_check(jobs: int) -> None:
    with psycopg.connect(POSTGRES_URL) as conn:
        rows = conn.execute("SELECT status, COUNT(*) FROM procrastinate_jobs GROUP BY status")
        statuses: dict[str, int] = dict(rows.fetchall())
    if statuses != {"succeeded": jobs}:
        raise BenchError(f"procrastinate jobs after the drain: {statuses}")


def rq_fill(jobs: int, run: PeerRun) -> None:
    """An empty Redis database holding ``jobs`` enqueued jobs of ``run``."""
    conn = redis.Redis.from_url(REDIS_URL)
    conn.flushdb()
    queue = rq.Queue(peer_tasks.QUEUE, connection=conn)
    task = peer_tasks.rq_sleep if run.sleep_seconds else peer_tasks.rq_noop
    extra = (run.sleep_seconds,) if run.sleep_seconds else ()
    for start in range(0, jobs, DEFER_CHUNK):
        numbers = range(start, min(start + DEFER_CHUNK, jobs))
        with conn.pipeline() as pipe:
            queue.enqueue_many(
                [rq.Queue.prepare_data(task, args=(n, *extra)) for n in numbers],
                pipeline=pipe,
            )
            pipe.execute()


def rq_worker(_: PeerRun, ready: Callable[[], None]) -> list[int]:
    conn = redis.Redis.from_url(REDIS_URL)
    queue = rq.Queue(peer_tasks.QUEUE, connection=conn)
    worker = rq.SimpleWorker([queue], connection=conn)
    ready()
    worker.work(burst=True, logging_level="WARNING")
    return list(peer_tasks.SEEN)


def _rq_check(jobs: int) -> None:
    conn = redis.Redis.from_url(REDIS_URL)
    queue = rq.Queue(peer_tasks.QUEUE, connection=conn)
    finished = rq.registry.FinishedJobRegistry(queue=queue).count
    failed = rq.registry.FailedJobRegistry(queue=queue).count
    if (len(queue), finished, failed) != (0, jobs, 0):
        raise BenchError(
            f"rq after the drain: {len(queue)} queued, {finished} done, {failed} failed"
        )


def drain(peer: str, workers: int, jobs: int, run: PeerRun = PeerRun()) -> Drain:
    """Fill ``peer``'s queue with ``jobs`` jobs, drain them with ``workers`` processes, check."""
    fill, body, check = PEERS[peer]
    fill(jobs, run)
    result = run_workers(body, run, workers, jobs)
    check_exactly_once(result.seen, range(jobs))
    check(jobs)
    return result


PEERS = {
    "procrastinate": (procrastinate_fill, procrastinate_worker, _procrastinate_check),
    "rq": (rq_fill, rq_worker, _rq_check),
}


def run(plan: Plan, results: Results) -> None:
    for peer in PEERS:
        for workers in plan.peer_workers:
            results.add(peer, workers, 1, drain(peer, workers, plan.peer_jobs))
            rate = results.rate(peer, workers, 1) or 0.0
            print(f"  {peer:<13} W={workers} {rate:>9,.0f} jobs/s", flush=True)
