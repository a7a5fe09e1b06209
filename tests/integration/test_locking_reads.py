"""Every locking read locks only the rows it returns, on MariaDB: READ COMMITTED keeps the lock
of each row a locking read rejects by a condition its index does not hold, until commit.

Each test pauses the real operation before its commit (tests/locks.py), counts the rows its
transaction holds, and does meanwhile what another worker or operator would; none may wait.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select, text, update

from common.claim import extend_leases
from common.maintenance import JobFilter, cancel_jobs, locked_by_id, prunable, prune, retry_jobs
from common.models import jobs
from common.schedule import (
    DUE_IN_ORDER,
    EXPIRED_LEASES,
    expire_overdue,
    promote_due,
    recover_expired,
)
from common.states import Status
from common.transitions import ClaimedJob
from tests.factories import db_now, make_jobs, statuses
from tests.integration.test_claim_plan import plan, table_access
from tests.locks import impatient, paused_before_commit, rows_locked

S = Status


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def held(engine: Engine, job_id: int) -> ClaimedJob:
    """The claimed job as its worker holds it (its lease token)."""
    with engine.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one()
    return ClaimedJob(
        row["id"], row["type"], row["queue"], row["payload"], row["attempts"],
        row["max_attempts"], row["lease_token"], row["locked_by"],
    )  # fmt: skip


@dataclass
class Meanwhile:
    """What an operation paused before its commit held, and what a worker did meanwhile."""

    locked: int  # row locks the operation's transaction held
    kept: int  # leases the worker extended
    waited: float  # seconds the extension took (a lock wait lasts 1 s)
    result: Any  # the operation's


def extending_leases_while_paused(
    engine: Engine, operation: Callable[[Engine], Any], running: list[int]
) -> Meanwhile:
    """Run ``operation``, paused before its commit, while another connection extends the
    leases of the ``running`` jobs as their worker would."""
    with paused_before_commit(url_of(engine), operation) as p:
        locked = rows_locked(engine, p.thread_id)
        other = impatient(url_of(engine))
        started = time.monotonic()
        kept = extend_leases(other, [held(engine, job_id) for job_id in running], 60)
        waited = time.monotonic() - started
        other.dispose()
    return Meanwhile(locked, kept, waited, p.result)


def test_recovery_locks_no_job_whose_lease_is_live(mariadb_engine: Engine) -> None:
    # Older run_at than the expired ones: the old recovery read them first in ix_jobs_due.
    live = make_jobs(mariadb_engine, 20, S.RUNNING, run_in=-600)
    expired = make_jobs(mariadb_engine, 10, S.RUNNING, started_at=None)
    with mariadb_engine.begin() as conn:
        past = db_now(mariadb_engine) - timedelta(seconds=5)
        conn.execute(update(jobs).where(jobs.c.id.in_(expired)).values(locked_until=past))

    seen = extending_leases_while_paused(
        mariadb_engine, lambda e: recover_expired(e, limit=5), live
    )

    assert seen.kept == 20
    assert seen.waited < 1.0  # no lock wait (it would last 1 s, and then be retried)
    assert seen.locked <= 2 * 5, seen.locked  # its 5 rows, in ix_jobs_lease and the table
    assert seen.result.rescheduled == 5
    assert list(statuses(mariadb_engine).values()).count(S.SCHEDULED) == 5


def test_prune_locks_only_what_it_deletes_and_a_retry_of_the_dlq_meanwhile_updates_it(
    mariadb_engine: Engine,
) -> None:
    make_jobs(mariadb_engine, 3000, S.SUCCESS, finished_ago=3600)
    # Kept. On this table the old prune read the status index, the DLQ first, and locked them.
    recent_dlq = make_jobs(mariadb_engine, 200, S.DLQ)
    with mariadb_engine.connect() as conn:
        conn.execute(text("ANALYZE TABLE jobs")).all()

    def prune_one_batch(engine: Engine) -> int:
        return prune(engine, older_than_seconds=600, batch=100, max_batches=1)

    with paused_before_commit(url_of(mariadb_engine), prune_one_batch) as p:
        locked = rows_locked(mariadb_engine, p.thread_id)
        other = impatient(url_of(mariadb_engine))
        retried = retry_jobs(other, where=JobFilter(status=S.DLQ))
        other.dispose()

    assert retried == len(recent_dlq)
    assert locked <= 2 * 100  # its 100 rows, in ix_jobs_finished_at and the table
    assert p.result == 100


def test_an_operator_action_by_filter_locks_no_other_queues_rows(mariadb_engine: Engine) -> None:
    others = make_jobs(mariadb_engine, 20, S.DLQ, queue="b")  # first in id order
    mine = make_jobs(mariadb_engine, 20, S.DLQ, queue="a")
    with mariadb_engine.connect() as conn:
        conn.execute(text("ANALYZE TABLE jobs")).all()  # the old one then read queue b's too

    def retry_queue_a(engine: Engine) -> int:
        return retry_jobs(engine, where=JobFilter(queue="a", status=S.DLQ), batch=10)

    with paused_before_commit(url_of(mariadb_engine), retry_queue_a) as p:
        locked = rows_locked(mariadb_engine, p.thread_id)
        other = impatient(url_of(mariadb_engine))
        cancelled = cancel_jobs(other, where=JobFilter(queue="b", status=S.DLQ))
        other.dispose()

    assert cancelled == len(others)
    assert locked <= 10  # its batch of 10, locked by primary key
    assert p.result == len(mine)
    assert {statuses(mariadb_engine)[job_id] for job_id in mine} == {S.SCHEDULED}


def test_promotion_of_both_due_statuses_locks_only_what_it_promotes(mariadb_engine: Engine) -> None:
    created = make_jobs(mariadb_engine, 20, S.CREATED, run_in=-60)
    failed = make_jobs(mariadb_engine, 20, S.FAILED, run_in=-60)

    with paused_before_commit(url_of(mariadb_engine), lambda e: promote_due(e, limit=5)) as p:
        locked = rows_locked(mariadb_engine, p.thread_id)
        other = impatient(url_of(mariadb_engine))
        retried = promote_due(other, S.FAILED, limit=100)
        other.dispose()

    assert p.result == 5
    assert locked <= 2 * 5, locked  # its 5 rows, in ix_jobs_due and the table
    assert retried == len(failed)  # none of them held by the first (the old one sorted both)
    now = statuses(mariadb_engine)
    assert sum(now[job_id] == S.SCHEDULED for job_id in created) == 5


def test_the_deadline_sweep_locks_no_running_or_finished_job_past_its_deadline(
    mariadb_engine: Engine,
) -> None:
    long_ago = db_now(mariadb_engine) - timedelta(hours=1)
    # Their deadlines passed first: the old sweep read them first in ix_jobs_not_after.
    running = make_jobs(mariadb_engine, 20, S.RUNNING, not_after=long_ago)
    make_jobs(mariadb_engine, 20, S.SUCCESS, not_after=long_ago)
    overdue = make_jobs(mariadb_engine, 10, S.SCHEDULED, not_after=long_ago + timedelta(minutes=30))

    sweep = lambda e: expire_overdue(e, limit=5)  # noqa: E731
    seen = extending_leases_while_paused(mariadb_engine, sweep, running)

    assert seen.kept == 20
    assert seen.waited < 1.0  # no lock wait (it would last 1 s, and then be retried)
    assert seen.locked <= 5, seen.locked  # its 5 rows, by primary key
    assert seen.result == 5
    assert [statuses(mariadb_engine)[i] for i in overdue].count(S.CANCELLED) == 5


# The plans: each locking read reads an index that holds all of its conditions, so that no row
# is read, locked and then rejected (busy_table: mostly finished jobs, a few running).


def test_recovery_reads_its_whole_condition_from_ix_jobs_lease(busy_table: Engine) -> None:
    explained = plan(busy_table, EXPIRED_LEASES, limit=5)
    access = table_access(explained)

    assert access["key"] == "ix_jobs_lease"
    assert access["used_key_parts"] == ["status", "locked_until"]
    assert "attached_condition" not in access  # nothing checked outside the index
    assert "filesort" not in json.dumps(explained)


def test_prune_reads_its_whole_condition_from_ix_jobs_finished_at(busy_table: Engine) -> None:
    explained = plan(busy_table, prunable(older_than_seconds=600, batch=100), limit=100)
    access = table_access(explained)

    assert access["key"] == "ix_jobs_finished_at"
    assert access["used_key_parts"] == ["finished_at"]
    assert "status" not in access.get("attached_condition", "")  # the index holds all of it
    assert "filesort" not in json.dumps(explained)


def test_an_operator_action_locks_the_jobs_of_a_filter_by_primary_key(busy_table: Engine) -> None:
    match = JobFilter(queue="a").clause() & jobs.c.id.in_([1, 2, 3])
    explained = plan(busy_table, locked_by_id(match, frozenset({S.DLQ}), True), limit=0)
    access = table_access(explained)

    assert access["key"] == "PRIMARY"
    assert access["rows"] <= 3


def test_promotion_reads_its_whole_condition_from_ix_jobs_due(busy_table: Engine) -> None:
    explained = plan(busy_table, DUE_IN_ORDER.params(status=S.FAILED), limit=5)
    access = table_access(explained)

    assert access["key"] == "ix_jobs_due"
    assert access["used_key_parts"][:2] == ["status", "run_at"]
    assert "attached_condition" not in access
    assert "filesort" not in json.dumps(explained)
