"""The peers' tasks: procrastinate's and rq's. Each notes its job's number when it runs.

The no-op tasks measure the queue itself; the sleep tasks an I/O-bound job (the io section),
each waiting the way its worker waits best: procrastinate's on its event loop, rq's in its
worker process.
"""

from __future__ import annotations

import asyncio
import time

import procrastinate

from tests.benchmarks.plan import POSTGRES_URL

SEEN: list[int] = []
QUEUE = "bench"

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=POSTGRES_URL))


@app.task(name="bench_noop", queue=QUEUE)
async def procrastinate_noop(n: int) -> None:
    """procrastinate's fastest no-op: an async task runs on the worker's event loop."""
    SEEN.append(n)


@app.task(name="bench_sleep", queue=QUEUE)
async def procrastinate_sleep(n: int, seconds: float) -> None:
    """An I/O wait as procrastinate runs it best: awaited, so one worker overlaps many."""
    await asyncio.sleep(seconds)
    SEEN.append(n)


def rq_noop(n: int) -> None:
    """rq's no-op, run by rq's SimpleWorker in the worker process itself."""
    SEEN.append(n)


def rq_sleep(n: int, seconds: float) -> None:
    """An I/O wait in rq: a worker runs one job at a time, so it blocks that worker."""
    time.sleep(seconds)
    SEEN.append(n)
