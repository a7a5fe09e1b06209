"""The peers' no-op tasks: procrastinate's and rq's. Each notes its job's number when it runs."""

from __future__ import annotations

import procrastinate

from tests.benchmarks.plan import POSTGRES_URL

SEEN: list[int] = []
QUEUE = "bench"

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=POSTGRES_URL))


@app.task(name="bench_noop", queue=QUEUE)
async def procrastinate_noop(n: int) -> None:
    """procrastinate's fastest no-op: an async task runs on the worker's event loop."""
    SEEN.append(n)


def rq_noop(n: int) -> None:
    """rq's no-op, run by rq's SimpleWorker in the worker process itself."""
    SEEN.append(n)
