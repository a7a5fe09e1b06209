"""Worker processes behind a start barrier: throughput is jobs / (last job done - start).

Each drain also counts CPU seconds: the workers' own (from the start to their end) and the
database server's over the same span, so a figure can be explained by where the cores went.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.benchmarks.bench_db import BenchError

# A worker body: set up, call ready() (which blocks until the start), work, return the job ids
# it ran (each job's handler records its id, so duplicates and losses show).
WorkerBody = Callable[[Any, Callable[[], None]], list[int]]
READY_TIMEOUT_SECONDS = 120.0
DATABASE_SERVERS = ("mariadbd", "mysqld")


@dataclass(frozen=True)
class Drain:
    """One drain: how many processes, how long from the start barrier to the last job done."""

    workers: int
    jobs: int
    seconds: float
    seen: list[int]
    worker_cpu_seconds: float = 0.0  # user + system, summed over the worker processes
    db_cpu_seconds: float = 0.0  # the database server's, over the drain

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


def cpu_seconds(pids: Iterable[int | str]) -> float:
    """User + system CPU seconds used so far by ``pids`` (0 for one that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


@cache
def database_pids() -> tuple[int, ...]:
    """The local MariaDB server's process, if it runs on this machine (else nothing)."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in DATABASE_SERVERS:
                found.append(int(comm.parent.name))
        except OSError:
            continue
    return tuple(found)


def _child(body: WorkerBody, spec: Any, ready_q: Any, start: Any, out_q: Any) -> None:
    cpu_at_start = [0.0]

    def ready() -> None:
        ready_q.put(os.getpid())
        start.wait()
        cpu_at_start[0] = time.process_time()

    try:
        seen = body(spec, ready)
        out_q.put((time.monotonic(), seen, time.process_time() - cpu_at_start[0], None))
    except BaseException:
        ready_q.put(os.getpid())  # let the parent stop waiting for this one
        out_q.put((time.monotonic(), [], 0.0, traceback.format_exc()))


def run_workers(
    body: WorkerBody,
    spec: Any,
    workers: int,
    jobs: int,
    timeout_seconds: float = 600.0,
    on_start: Callable[[], None] | None = None,
) -> Drain:
    """Start ``workers`` processes running ``body(spec, ready)`` together; time them."""
    return run_group([(body, spec)] * workers, jobs, timeout_seconds, on_start)


def run_group(
    members: list[tuple[WorkerBody, Any]],
    jobs: int,
    timeout_seconds: float = 600.0,
    on_start: Callable[[], None] | None = None,
) -> Drain:
    """Start one process per ``(body, spec)``, release them together, wait for them all.

    ``on_start`` runs just before the release (to note the start on another clock).
    """
    ctx = mp.get_context("spawn")
    ready_q, out_q, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_child, args=(body, spec, ready_q, start, out_q), daemon=True)
        for body, spec in members
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready_q.get(timeout=READY_TIMEOUT_SECONDS)
        if on_start:
            on_start()
        db_cpu = cpu_seconds(database_pids())
        t0 = time.monotonic()
        start.set()
        results = [out_q.get(timeout=timeout_seconds) for _ in procs]
        db_cpu = cpu_seconds(database_pids()) - db_cpu
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    errors = [err for *_, err in results if err]
    if errors:
        raise BenchError("a worker failed:\n" + errors[0])
    return Drain(
        workers=len(procs),
        jobs=jobs,
        seconds=max(done for done, *_ in results) - t0,
        seen=[i for _, seen, _, _ in results for i in seen],
        worker_cpu_seconds=sum(cpu for _, _, cpu, _ in results),
        db_cpu_seconds=db_cpu,
    )


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; q=50 is the median."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(sorted(values), n=1000, method="inclusive")[int(q * 10) - 1]
