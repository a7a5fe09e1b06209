"""Submissions that deadlock each other on MariaDB: the loser learns it may simply run again.

InnoDB breaks a deadlock by rolling back one whole transaction, savepoints and all; SQLAlchemy's
``ROLLBACK TO SAVEPOINT`` after it then fails (1305). Two ways to get there with real concurrent
connections: two inserts of one idempotency key waiting on a third that rolls back, and two bulk
submissions of the same keys in the opposite order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from common.config import Settings
from common.db import is_retryable, run_in_transaction
from common.enqueue import NewJob, enqueue, enqueue_many
from common.errors import SubmissionConflict
from common.handlers.catalog import build_registry

REGISTRY = build_registry(Settings.from_env({"BUILTIN_JOB_TYPES": "true"}))
WAIT_SECONDS = 10.0


def keyed(key: str) -> NewJob:
    return NewJob(type="noop", idempotency_key=key)


def wait_for_lock_waits(engine: Engine, count: int) -> None:
    """Until ``count`` connections of this database have been inside an INSERT for a while:
    waiting for a row lock. (information_schema.INNODB_TRX is a cache, refreshed so seldom
    under a busy server that it may not show them.)"""
    deadline = time.monotonic() + WAIT_SECONDS
    query = text(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
        " WHERE DB = DATABASE() AND COMMAND = 'Query' AND INFO LIKE 'INSERT INTO jobs%'"
        " AND TIME_MS > 300"
    )
    with engine.connect() as conn:
        while conn.execute(query).scalar_one() < count:
            assert time.monotonic() < deadline, f"fewer than {count} inserts waited"
            time.sleep(0.02)


def outcome(future: Future[Any]) -> Any:
    """The call's result, or the exception it raised."""
    try:
        return future.result(timeout=WAIT_SECONDS * 3)
    except Exception as exc:
        return exc


def waiters_after_a_rollback(
    engine: Engine, submit: Callable[[Engine], Any], key: str
) -> list[Any]:
    """T1 inserts ``key`` and holds it; two ``submit`` wait on it; T1 rolls back."""
    holder = engine.connect()
    holder.begin()
    enqueue(holder, keyed(key), registry=REGISTRY)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(submit, engine) for _ in range(2)]
        try:
            wait_for_lock_waits(engine, 2)
        finally:
            holder.rollback()
            holder.close()
        return [outcome(future) for future in futures]


def test_two_waiters_on_a_key_whose_holder_rolls_back_get_a_retryable_conflict(
    mariadb_engine: Engine,
) -> None:
    def submit(engine: Engine) -> int:
        with engine.begin() as conn:
            return enqueue(conn, keyed("k"), registry=REGISTRY).id

    outcomes = waiters_after_a_rollback(mariadb_engine, submit, "k")

    failed = [o for o in outcomes if isinstance(o, Exception)]
    assert len(failed) == 1, outcomes  # InnoDB chose one victim
    assert isinstance(failed[0], SubmissionConflict), repr(failed[0])
    assert failed[0].status == 409
    assert is_retryable(failed[0])


def test_run_in_transaction_retries_the_loser_to_the_existing_job(mariadb_engine: Engine) -> None:
    def submit(engine: Engine) -> tuple[int, bool]:
        added = run_in_transaction(engine, lambda c: enqueue(c, keyed("k"), registry=REGISTRY))
        return added.id, added.created

    outcomes = waiters_after_a_rollback(mariadb_engine, submit, "k")

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert outcomes[0][0] == outcomes[1][0]
    assert sorted(created for _, created in outcomes) == [False, True]


def crossed_bulk_submissions(engine: Engine) -> list[Any]:
    """A holds X and wants Y; B holds Y and wants X: one of them is the deadlock's victim."""
    first, second = engine.connect(), engine.connect()
    first.begin()
    second.begin()
    enqueue_many(first, [keyed("x")], registry=REGISTRY)
    enqueue_many(second, [keyed("y")], registry=REGISTRY)

    def then(conn: Connection, key: str) -> list[int]:
        ids = enqueue_many(conn, [keyed(key)], registry=REGISTRY)
        conn.commit()
        return ids

    try:
        with ThreadPoolExecutor(2) as pool:
            a = pool.submit(then, first, "y")
            wait_for_lock_waits(engine, 1)
            b = pool.submit(then, second, "x")
            return [outcome(a), outcome(b)]
    finally:
        for conn in (first, second):
            conn.close()


def test_crossed_bulk_submissions_leave_the_loser_a_retryable_conflict(
    mariadb_engine: Engine,
) -> None:
    outcomes = crossed_bulk_submissions(mariadb_engine)

    failed = [o for o in outcomes if isinstance(o, Exception)]
    assert len(failed) == 1, outcomes
    assert isinstance(failed[0], SubmissionConflict), repr(failed[0])
    assert is_retryable(failed[0])


@pytest.mark.parametrize("rounds", [3])
def test_crossed_bulk_submissions_retried_all_succeed(mariadb_engine: Engine, rounds: int) -> None:
    keys = [f"bulk-{n}" for n in range(200)]
    start = threading.Barrier(2)

    def submit(order: list[str]) -> list[int]:
        start.wait()
        return run_in_transaction(
            mariadb_engine,
            lambda c: enqueue_many(c, [keyed(k) for k in order], registry=REGISTRY),
        )

    for round_ in range(rounds):
        ordered = [f"{k}-{round_}" for k in keys]
        with ThreadPoolExecutor(2) as pool:
            forward = pool.submit(submit, ordered)
            backward = pool.submit(submit, ordered[::-1])
            assert forward.result() == backward.result()[::-1]
