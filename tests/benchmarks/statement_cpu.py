"""Where a drain's client CPU goes, statement by statement: the bare loop against skiplock.

`python -m tests.benchmarks.statement_cpu [--batch 10] [--jobs 20000] [--rounds 2]` (with
.venv-bench's python): in one process, the same SQL-seeded jobs drained by the bare PyMySQL
loop and by one in-process worker tick, alternating rounds. PyMySQL's execute, executemany and
commit are timed on the draining thread's CPU clock and sorted by the statement they sent; what
is left of that thread's CPU is everything above the driver (SQLAlchemy, the worker's own
bookkeeping). Printed per batch, the median of the rounds, with MariaDB's CPU over the drain.
One worker, so the figures carry no contention; they show what each side asks of PyMySQL.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pymysql

from tests.benchmarks import bare, bench_db, inprocess
from tests.benchmarks.plan import MARIADB_URL
from tests.benchmarks.procs import cpu_seconds, database_pids

ABOVE = "above the driver (SQLAlchemy, the worker)"
MARIADB = "MariaDB server (all its threads)"


def kind(sql: Any) -> str:
    """The statement a SQL text is, in a few words."""
    text = (bytes(sql).decode() if isinstance(sql, bytes | bytearray) else str(sql)).lstrip()
    text = text.upper()
    if text.startswith("SELECT"):
        return "SELECT the claim's candidates" if "SKIP LOCKED" in text else "SELECT, other"
    if text.startswith("INSERT"):
        return "INSERT the attempt rows" if "JOB_ATTEMPTS" in text else "INSERT, other"
    if text.startswith("UPDATE"):
        for status in ("RUNNING", "SUCCESS", "SCHEDULED"):
            if f"STATUS='{status}'" in text.replace(" ", ""):
                return f"UPDATE to {status}"
        return "UPDATE, other"
    return text.split(" ", 1)[0] or "?"


def sent(args: tuple[Any, ...]) -> str:
    """The kind of statement a cursor (``args[0]``) has just sent, parameters in place."""
    return kind(getattr(args[0], "_executed", None) or args[1])


@contextmanager
def timed_driver(spent: Counter[str], thread: threading.Thread) -> Iterator[None]:
    """Add the CPU of ``thread``'s PyMySQL calls to ``spent``, by statement, while inside."""
    cursor, connection = pymysql.cursors.Cursor, pymysql.connections.Connection
    originals = (cursor.execute, cursor.executemany, connection.commit)

    inside: list[bool] = []  # executemany calls execute: count the outer call only

    def timing(call: Callable[..., Any], label: Callable[[tuple[Any, ...]], str]) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if inside or threading.current_thread() is not thread:
                return call(*args, **kwargs)
            inside.append(True)
            started = time.thread_time()
            try:
                return call(*args, **kwargs)
            finally:
                elapsed = time.thread_time() - started
                spent[label(args)] += elapsed
                inside.pop()

        return wrapper

    patched = (
        timing(originals[0], sent),
        timing(originals[1], sent),
        timing(originals[2], lambda args: "COMMIT"),
    )
    cursor.execute, cursor.executemany, connection.commit = patched  # type: ignore[method-assign]
    try:
        yield
    finally:
        cursor.execute, cursor.executemany, connection.commit = originals  # type: ignore[method-assign]


def drain_once(path: str, batch: int, jobs: int, engine: Any) -> Counter[str]:
    """CPU per batch (µs) of one drain of ``jobs`` by ``path``, by statement."""
    bench_db.empty(engine)
    bench_db.seed(engine, jobs)
    spent: Counter[str] = Counter()
    database = cpu_seconds(database_pids())
    with timed_driver(spent, threading.current_thread()):
        started = time.thread_time()
        if path == "bare":
            bare.worker(bare.BareSpec(MARIADB_URL, batch), lambda: None)
        else:
            inprocess.worker(inprocess.TickSpec(MARIADB_URL, batch), lambda: None)
        total = time.thread_time() - started
    spent[ABOVE] = total - sum(spent.values())
    spent[MARIADB] = cpu_seconds(database_pids()) - database
    bench_db.check_all_succeeded(engine, jobs, attempts_table=path != "bare")
    batches = jobs / batch
    return Counter({name: 1e6 * seconds / batches for name, seconds in spent.items()})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.statement_cpu")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    engine = bench_db.prepare(MARIADB_URL)
    runs: dict[str, list[Counter[str]]] = {"bare": [], "skiplock": []}
    for _ in range(args.rounds):
        for path in runs:
            runs[path].append(drain_once(path, args.batch, args.jobs, engine))
    names = sorted({name for path in runs.values() for run in path for name in run} - {MARIADB})
    print(f"CPU per batch of {args.batch} (µs; median of {args.rounds} rounds, one worker)")
    print(f"{'':45} {'bare loop':>10} {'skiplock':>10}")
    for name in [*sorted(set(names) - {ABOVE}), ABOVE, MARIADB]:
        cells = [statistics.median(run[name] for run in runs[path]) for path in runs]
        if not any(cells):
            continue  # a statement of the set-up (SET, SELECT VERSION()) is no drain's
        print(f"{name:45} " + " ".join(f"{cell:>10,.0f}" for cell in cells))
    clients = [
        statistics.median(sum(v for k, v in run.items() if k != MARIADB) for run in runs[path])
        for path in runs
    ]
    print(f"{'the client in all':45} " + " ".join(f"{cell:>10,.0f}" for cell in clients))


if __name__ == "__main__":
    main()
