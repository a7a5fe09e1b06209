"""CPU per execution of the worker's hot writes, through SQLAlchemy and as driver SQL.

`python -m tests.benchmarks.driver_sql [--database postgresql]` (with .venv-bench's python):
on the benchmark's MariaDB (or PostgreSQL) database, each statement of common/driver_sql.py's
DriverStatements run N times both ways on one connection, alternating rounds, and the process
CPU per execution printed. The UPDATEs match no row (a fence no job holds): what is measured
is the client's side.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Connection

from common import transitions
from common.driver_sql import DriverStatement
from common.models import job_attempts
from tests.benchmarks import bench_db, postgres
from tests.benchmarks.plan import MARIADB_URL

IDS = list(range(1, 11))


def cases() -> dict[str, tuple[DriverStatement, Callable[[int], Any]]]:
    """Each hot statement, and the parameters of its n-th execution."""
    moment = datetime(2026, 1, 1, 12, 0, 0, 123456)

    def attempt_rows(n: int) -> list[dict[str, object]]:
        return [
            {
                "job_id": n * 100 + i,
                "attempt": 1,
                "worker_id": "bench-worker",
                "started_at": moment,
                "ended_at": moment,
                "outcome": "success",
            }
            for i in range(10)
        ]

    return {
        "take the leases (10 ids)": (
            transitions._TAKE_LEASE,
            lambda n: {"ids": IDS, "token": "t", "worker_id": "w", "lease_micros": 10**6},
        ),
        "succeed (10 ids)": (
            transitions._SUCCEED_WITHOUT_RESULTS,
            lambda n: {"ids": IDS, "fence": "no such lease"},
        ),
        "attempt rows (10 rows)": (transitions._ATTEMPT_ROW, attempt_rows),
    }


def cpu_per_call(conn: Connection, run: Callable[[int], Any], calls: int) -> float:
    started = time.process_time()
    for n in range(calls):
        run(n)
    spent = time.process_time() - started
    conn.rollback()
    return 1e6 * spent / calls


Params = Callable[[int], Any]


def _through_sqlalchemy(conn: Connection, statement: DriverStatement, params: Params) -> Params:
    return lambda n: conn.execute(statement.statement, params(n))


def _as_driver_sql(conn: Connection, statement: DriverStatement, params: Params) -> Params:
    if isinstance(params(0), list):
        return lambda n: statement.execute_many(conn, params(n))
    return lambda n: statement.execute(conn, params(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", choices=("mariadb", "postgresql"), default="mariadb")
    args = parser.parse_args()
    if args.database == "mariadb":
        engine = bench_db.prepare(MARIADB_URL)
        bench_db.empty(engine)
    else:
        engine = postgres.prepare()
    print(f"{engine.dialect.name}, {args.calls} calls a round, median of {args.rounds} rounds")
    print("| statement | SQLAlchemy µs | driver SQL µs | saved |")
    print("|---|---|---|---|")
    with engine.connect() as conn:
        for label, (statement, params) in cases().items():
            slow, fast = [], []
            for _ in range(args.rounds):
                conn.execute(delete(job_attempts))
                slow.append(
                    cpu_per_call(conn, _through_sqlalchemy(conn, statement, params), args.calls)
                )
                fast.append(cpu_per_call(conn, _as_driver_sql(conn, statement, params), args.calls))
            a, b = statistics.median(slow), statistics.median(fast)
            print(f"| {label} | {a:.0f} | {b:.0f} | {a - b:.0f} µs ({1 - b / a:.0%}) |")
    engine.dispose()


if __name__ == "__main__":
    main()
