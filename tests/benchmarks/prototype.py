"""The evidence for the worker-path proposals: `python -m tests.benchmarks.prototype [--batch 10]`.

One process drains the same jobs four ways and prints the worker's CPU per batch and jobs/s:

1. the bare PyMySQL loop (the limit);
2. common.claim.claim + common.finish.finish as they are;
3. the same two transactions with statements built once (bind parameters, an expanding IN)
   instead of being built, coerced and cache-keyed on every call;
4. as 3, on one connection held for the whole drain (no pool checkout per transaction: no
   pre-ping round trip, no reset-on-return ROLLBACK round trip).

Variants 3 and 4 are a sketch of a change to common/, kept here only to measure it; they cover
the success path (no failures, no queues filter) and check their row counts like claim/finish.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import (
    BindParameter,
    Connection,
    Engine,
    Integer,
    bindparam,
    insert,
    literal,
    select,
    update,
)

from common.claim import claim
from common.config import Settings
from common.db import make_engine, utc_in, utcnow
from common.finish import finish
from common.models import job_attempts, jobs
from common.states import Status
from common.transitions import Finished
from tests.benchmarks import bare, bench_db
from tests.benchmarks.plan import MARIADB_URL

IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
CLAIM = (
    select(
        jobs.c.id, jobs.c.type, jobs.c.queue, jobs.c.payload, jobs.c.attempts, jobs.c.max_attempts
    )
    .where(jobs.c.status == Status.SCHEDULED, jobs.c.run_at <= utcnow())
    .order_by(jobs.c.priority.desc(), jobs.c.run_at, jobs.c.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)
LEASE = (
    update(jobs)
    .where(jobs.c.id.in_(IDS), jobs.c.status == Status.SCHEDULED)
    .values(
        status=Status.RUNNING,
        attempts=jobs.c.attempts + 1,
        lease_token=bindparam("token"),
        locked_by=bindparam("worker"),
        locked_until=utc_in(120),
        started_at=utcnow(),
        updated_at=utcnow(),
    )
)
SUCCEED = (
    update(jobs)
    .where(
        jobs.c.id.in_(IDS),
        jobs.c.status == Status.RUNNING,
        jobs.c.lease_token == bindparam("token"),
    )
    .values(
        status=Status.SUCCESS,
        result=None,
        last_error=None,
        finished_at=utcnow(),
        lease_token=None,
        locked_until=None,
        updated_at=utcnow(),
    )
)
ATTEMPTS = insert(job_attempts).from_select(
    ["job_id", "attempt", "worker_id", "started_at", "ended_at", "outcome", "error"],
    select(
        jobs.c.id,
        jobs.c.attempts,
        jobs.c.locked_by,
        jobs.c.started_at,
        utcnow(),
        literal("success"),
        literal(None),
    ).where(jobs.c.id.in_(IDS)),
)
Transaction = Callable[[], AbstractContextManager[Connection]]


def _claim(conn: Connection, limit: int) -> tuple[list[int], str]:
    ids = [row.id for row in conn.execute(CLAIM, {"limit": limit})]
    token = uuid.uuid4().hex
    if ids:
        moved = conn.execute(LEASE, {"ids": ids, "token": token, "worker": "proto"}).rowcount
        assert moved == len(ids)
    return ids, token


def _succeed(conn: Connection, ids: list[int], token: str) -> None:
    assert conn.execute(SUCCEED, {"ids": ids, "token": token}).rowcount == len(ids)
    conn.execute(ATTEMPTS, {"ids": ids})


def _prebuilt(transaction: Transaction, batch: int) -> tuple[float, int]:
    cpu, batches = 0.0, 0
    while True:
        started = time.process_time()
        with transaction() as conn:
            ids, token = _claim(conn, batch)
        if ids:
            with transaction() as conn:
                _succeed(conn, ids, token)
        cpu += time.process_time() - started
        if not ids:
            return cpu, batches
        batches += 1


def _current(engine: Engine, batch: int) -> tuple[float, int]:
    cpu, batches = 0.0, 0
    while True:
        started = time.process_time()
        claimed = claim(engine, worker_id="proto", limit=batch, lease_seconds=120)
        if claimed:
            finish(engine, [Finished(job) for job in claimed], Settings().backoff)
        cpu += time.process_time() - started
        if not claimed:
            return cpu, batches
        batches += 1


@contextmanager
def _held(engine: Engine) -> Iterator[Transaction]:
    """Transactions on one connection, checked out once: no ping, no reset per transaction."""
    with engine.connect() as conn:

        @contextmanager
        def transaction() -> Iterator[Connection]:
            with conn.begin():
                yield conn

        yield transaction


def variants(engine: Engine, batch: int) -> dict[str, Callable[[], tuple[float, int]]]:
    def bare_loop() -> tuple[float, int]:
        started = time.process_time()
        seen = bare.worker(bare.BareSpec(MARIADB_URL, batch), lambda: None)
        return time.process_time() - started, -(-len(seen) // batch)

    def held() -> tuple[float, int]:
        with _held(engine) as transaction:
            return _prebuilt(transaction, batch)

    return {
        "bare PyMySQL loop": bare_loop,
        "claim() + finish() today": lambda: _current(engine, batch),
        "statements built once": lambda: _prebuilt(engine.begin, batch),
        "built once + one held connection": held,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.prototype")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    admin = bench_db.prepare(MARIADB_URL)
    engine = make_engine(MARIADB_URL)
    for round_ in range(1, args.rounds + 1):
        for name, drain in variants(engine, args.batch).items():
            bench_db.empty(admin)
            bench_db.seed(admin, args.jobs)
            wall = time.monotonic()
            cpu, batches = drain()
            wall = time.monotonic() - wall
            bench_db.check_all_succeeded(
                admin, args.jobs, attempts_table=name != "bare PyMySQL loop"
            )
            print(
                f"round {round_}  {name:<34} {1e6 * cpu / batches:7,.0f} µs CPU per batch "
                f"of {args.batch}  {args.jobs / wall:8,.0f} jobs/s",
                flush=True,
            )


if __name__ == "__main__":
    main()
