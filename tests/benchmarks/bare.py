"""Section 1, the limit: a bare PyMySQL SKIP LOCKED loop, no framework, no attempt records.

It claims with skiplock's WHERE and ORDER BY (so MariaDB reads the same index, ix_jobs_claim),
marks the batch RUNNING by primary key and commits, runs nothing, then marks it SUCCESS in one
UPDATE and commits: two transactions per batch, the least a leased queue can do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pymysql

from tests.benchmarks.bench_db import (
    check_all_succeeded,
    check_exactly_once,
    empty,
    job_ids,
    pymysql_connect,
    seed,
)
from tests.benchmarks.plan import MARIADB_URL, Plan
from tests.benchmarks.procs import Drain, run_workers
from tests.benchmarks.results import Results

CLAIM = (
    "SELECT id, type, payload FROM jobs"
    " WHERE status = 'SCHEDULED' AND run_at <= UTC_TIMESTAMP(6)"
    " ORDER BY priority DESC, run_at, id LIMIT %s FOR UPDATE SKIP LOCKED"
)
MARK_RUNNING = (
    "UPDATE jobs SET status = 'RUNNING', attempts = attempts + 1,"
    " started_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6) WHERE id IN ({ids})"
)
MARK_SUCCESS = (
    "UPDATE jobs SET status = 'SUCCESS', finished_at = UTC_TIMESTAMP(6),"
    " updated_at = UTC_TIMESTAMP(6) WHERE id IN ({ids})"
)
RETRYABLE = {1205, 1213}


@dataclass(frozen=True)
class BareSpec:
    url: str
    batch: int


def worker(spec: BareSpec, ready: Callable[[], None]) -> list[int]:
    """Claim, mark, finish until a claim comes back empty; return the ids it ran."""
    conn = pymysql_connect(spec.url)
    seen: list[int] = []
    ready()
    with conn.cursor() as cur:
        while batch := _claim(conn, cur, spec.batch):
            seen.extend(batch)  # the no-op "run"
            marks = ",".join(["%s"] * len(batch))
            cur.execute(MARK_SUCCESS.format(ids=marks), batch)
            conn.commit()
    conn.close()
    return seen


def _claim(conn: pymysql.connections.Connection[Any], cur: Any, limit: int) -> list[int]:
    while True:
        try:
            cur.execute(CLAIM, (limit,))
            ids = [row[0] for row in cur.fetchall()]
            if ids:
                cur.execute(MARK_RUNNING.format(ids=",".join(["%s"] * len(ids))), ids)
            conn.commit()
            return ids
        except pymysql.err.OperationalError as exc:
            conn.rollback()
            if exc.args[0] not in RETRYABLE:
                raise


def drain(url: str, workers: int, batch: int, jobs: int, engine: Any) -> Drain:
    """Seed ``jobs`` due jobs, drain them with ``workers`` bare loops, check each ran once."""
    empty(engine)
    seed(engine, jobs)
    expected = job_ids(engine)
    result = run_workers(worker, BareSpec(url, batch), workers, jobs)
    check_exactly_once(result.seen, expected)
    check_all_succeeded(engine, jobs, attempts_table=False)
    return result


def paired(
    results: Results,
    path: str,
    config: tuple[int, int, int],
    repeats: int,
    mine: Callable[[], Drain],
    engine: Any,
) -> None:
    """Run ``mine`` and the bare loop back to back, ``repeats`` times, alternating which is first.

    Other work on the machine drifts over minutes; two runs seconds apart see the same load,
    so each pair gives one ratio and the table quotes their median.
    """
    workers, batch, jobs = config
    for repeat in range(repeats):
        if repeat % 2 == 0:
            limit = drain(MARIADB_URL, workers, batch, jobs, engine)
            ours = mine()
        else:
            ours = mine()
            limit = drain(MARIADB_URL, workers, batch, jobs, engine)
        results.add_pair(path, workers, batch, limit, ours)
    show(results, path, workers, batch)


def show(results: Results, path: str, workers: int, batch: int) -> None:
    """One progress line: the median rate, and the share of bare when there is one."""
    rate = results.rate(path, workers, batch) or 0.0
    ratio = results.ratio(path, workers, batch) if path != "bare" else None
    share = f"  {ratio:5.0%} of bare" if ratio else ""
    print(f"  {path:<10} W={workers} batch={batch:<3} {rate:>9,.0f} jobs/s{share}", flush=True)


def run(plan: Plan, results: Results, engine: Any) -> None:
    """The limit at every configuration, median of ``plan.repeats`` runs."""
    for batch in plan.batches:
        for workers in plan.workers:
            for _ in range(plan.repeats):
                results.add(
                    "bare",
                    workers,
                    batch,
                    drain(MARIADB_URL, workers, batch, plan.jobs_for(batch), engine),
                )
            show(results, "bare", workers, batch)
