"""What a transition listener costs the worker: `python -m tests.benchmarks.listener_cost`.

The in-process drain (4 worker processes, no-op jobs; section ``inprocess``) run three ways,
alternating, on the benchmark's MariaDB database: with no listener (the engine then builds no
events), with a listener that only counts, and with the JSON logs at INFO (common/logs.py:
one line per transition, written to /dev/null). Listeners run on the event stream's own
thread, after the commit, so they cost CPU but never hold a transaction. Prints the median
jobs/s of each and its ratio to the drain without a listener.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass

from common.events import TransitionEvent, stream
from common.logs import configure
from tests.benchmarks import bench_db, inprocess
from tests.benchmarks.bench_db import check_all_succeeded, check_exactly_once, empty, job_ids, seed
from tests.benchmarks.plan import MARIADB_URL
from tests.benchmarks.procs import run_workers

KINDS = ("no listener", "a counting listener", "JSON logs at INFO")


@dataclass(frozen=True)
class ListeningSpec(inprocess.TickSpec):
    kind: str = KINDS[0]


def listening_worker(spec: ListeningSpec, ready: Callable[[], None]) -> list[int]:
    """inprocess.worker, with the listener ``spec.kind`` names subscribed first."""
    if spec.kind == KINDS[1]:
        heard = [0]

        def count(event: TransitionEvent) -> None:
            heard[0] += 1

        stream.subscribe(count)
    elif spec.kind == KINDS[2]:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the process's whole life
        configure("json", "INFO")
    seen = inprocess.worker(spec, ready)
    stream.drain(60)  # what the listener has still to hear counts too
    return seen


def drain_rate(kind: str, workers: int, batch: int, jobs: int) -> float:
    engine = bench_db.prepare(MARIADB_URL)
    empty(engine)
    seed(engine, jobs)
    expected = job_ids(engine)
    spec = ListeningSpec(MARIADB_URL, batch, kind=kind)
    result = run_workers(listening_worker, spec, workers, jobs)  # type: ignore[arg-type]
    check_exactly_once(result.seen, expected)
    check_all_succeeded(engine, jobs, attempts_table=True)
    engine.dispose()
    return result.rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    print(f"| batch | {' | '.join(KINDS)} |")
    print(f"|---|{'---|' * len(KINDS)}")
    for batch in (10, 100):
        rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for round_ in range(args.rounds):
            order = KINDS if round_ % 2 == 0 else KINDS[::-1]
            for kind in order:
                rates[kind].append(drain_rate(kind, args.workers, batch, args.jobs))
        base = statistics.median(rates[KINDS[0]])
        cells = [
            f"{statistics.median(r):,.0f} jobs/s ({statistics.median(r) / base:.0%})"
            for r in rates.values()
        ]
        print(f"| {batch} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
