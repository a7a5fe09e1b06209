"""Operator actions: retry and cancel by ids or by filter, and pruning of finished jobs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert

from common.claim import claim
from common.errors import ValidationError
from common.maintenance import JobFilter, cancel_jobs, prune, retry_jobs
from common.models import job_attempts, jobs
from common.states import Status
from tests.factories import (
    attempt_rows,
    count_rows,
    db_now,
    job_row,
    make_job,
    make_jobs,
    statuses,
)

S = Status
DAY = 24 * 3600.0


@contextmanager
def deleted_rows_per_statement(engine: Engine, table: str) -> Iterator[list[int]]:
    """How many rows each DELETE on ``table`` removed while the block ran."""
    counts: list[int] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(f"DELETE FROM {table.upper()} "):
            counts.append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", record)
    try:
        yield counts
    finally:
        event.remove(engine, "after_cursor_execute", record)


def with_attempts(engine: Engine, job_id: int) -> int:
    with engine.begin() as conn:
        conn.execute(
            insert(job_attempts).values(
                job_id=job_id, attempt=1, ended_at=datetime(2026, 1, 1), outcome="success"
            )
        )
    return job_id


# -- retry -------------------------------------------------------------------------------------


def test_retry_by_ids_schedules_failed_and_dlq_jobs_now(engine: Engine) -> None:
    failed = make_job(engine, S.FAILED, run_in=600)
    dead = make_job(engine, S.DLQ, attempts=2, max_attempts=5, finished_ago=60)
    assert retry_jobs(engine, ids=[failed, dead]) == 2
    now = db_now(engine)
    for job_id in (failed, dead):
        row = job_row(engine, job_id)
        assert (row["status"], row["finished_at"], row["max_attempts"]) == (S.SCHEDULED, None, 5)
        assert row["run_at"] <= now


def test_retry_gives_a_dlq_job_that_used_all_its_attempts_exactly_one_more(engine: Engine) -> None:
    dead = make_job(engine, S.DLQ, attempts=3, max_attempts=3)
    assert retry_jobs(engine, ids=[dead]) == 1
    assert (job_row(engine, dead)["attempts"], job_row(engine, dead)["max_attempts"]) == (3, 4)


def test_retry_by_ids_skips_jobs_in_other_states(engine: Engine) -> None:
    failed = make_job(engine, S.FAILED)
    others = {status: make_job(engine, status) for status in (S.RUNNING, S.SUCCESS, S.CREATED)}
    assert retry_jobs(engine, ids=[failed, *others.values()]) == 1
    assert {status: job_row(engine, i)["status"] for status, i in others.items()} == {
        S.RUNNING: S.RUNNING,
        S.SUCCESS: S.SUCCESS,
        S.CREATED: S.CREATED,
    }


def test_retry_by_filter_moves_only_the_matching_jobs(engine: Engine) -> None:
    mail_dead = make_jobs(engine, 3, S.DLQ, type="email")
    pdf_dead = make_job(engine, S.DLQ, type="pdf")
    mail_failed = make_job(engine, S.FAILED, type="email", run_in=600)
    assert retry_jobs(engine, where=JobFilter(status=S.DLQ, type="email"), batch=2) == 3
    after = statuses(engine)
    assert [after[i] for i in mail_dead] == [S.SCHEDULED] * 3
    assert (after[pdf_dead], after[mail_failed]) == (S.DLQ, S.FAILED)


def test_retry_by_filter_without_a_status_takes_failed_and_dlq_jobs(engine: Engine) -> None:
    failed, dead = make_job(engine, S.FAILED, queue="q"), make_job(engine, S.DLQ, queue="q")
    running, done = make_job(engine, S.RUNNING, queue="q"), make_job(engine, S.SUCCESS, queue="q")
    other_queue = make_job(engine, S.FAILED, queue="other")
    assert retry_jobs(engine, where=JobFilter(queue="q")) == 2
    after = statuses(engine)
    assert (after[failed], after[dead]) == (S.SCHEDULED, S.SCHEDULED)
    assert (after[running], after[done], after[other_queue]) == (S.RUNNING, S.SUCCESS, S.FAILED)


def test_a_job_dead_lettered_by_a_permanent_error_keeps_its_unused_attempts_on_retry(
    engine: Engine,
) -> None:
    dead = make_job(engine, S.DLQ, attempts=1, max_attempts=5)
    retry_jobs(engine, ids=[dead])
    assert (job_row(engine, dead)["attempts"], job_row(engine, dead)["max_attempts"]) == (1, 5)


# -- cancel ------------------------------------------------------------------------------------


def test_cancel_by_ids_ends_waiting_jobs_and_leaves_the_others(engine: Engine) -> None:
    waiting = [make_job(engine, status) for status in (S.CREATED, S.SCHEDULED, S.FAILED)]
    running, done = make_job(engine, S.RUNNING), make_job(engine, S.SUCCESS)
    assert cancel_jobs(engine, ids=[*waiting, running, done]) == 3
    for job_id in waiting:
        row = job_row(engine, job_id)
        assert row["status"] == S.CANCELLED
        assert row["finished_at"] is not None
    assert (job_row(engine, running)["status"], job_row(engine, done)["status"]) == (
        S.RUNNING,
        S.SUCCESS,
    )


def test_cancel_by_filter_works_through_all_matches_in_batches(engine: Engine) -> None:
    matching = make_jobs(engine, 5, S.CREATED, queue="pdf", run_in=600)
    scheduled_pdf = make_job(engine, S.SCHEDULED, queue="pdf")
    mail = make_job(engine, S.CREATED, queue="mail")
    assert cancel_jobs(engine, where=JobFilter(status=S.CREATED, queue="pdf"), batch=2) == 5
    after = statuses(engine)
    assert [after[i] for i in matching] == [S.CANCELLED] * 5
    assert (after[scheduled_pdf], after[mail]) == (S.SCHEDULED, S.CREATED)


def test_a_cancelled_job_is_never_claimed(engine: Engine) -> None:
    job_id = make_job(engine, S.SCHEDULED)
    cancel_jobs(engine, ids=[job_id])
    assert claim(engine, worker_id="w", limit=5, lease_seconds=60) == []


@pytest.mark.parametrize("action", [retry_jobs, cancel_jobs])
def test_an_action_needs_either_ids_or_a_filter_but_not_both(engine: Engine, action: Any) -> None:
    with pytest.raises(ValidationError):
        action(engine)
    with pytest.raises(ValidationError):
        action(engine, ids=[1], where=JobFilter())


# -- prune -------------------------------------------------------------------------------------


def test_prune_deletes_old_finished_jobs_and_their_attempts(engine: Engine) -> None:
    old = [
        with_attempts(engine, make_job(engine, status, finished_ago=2 * DAY))
        for status in (S.SUCCESS, S.DLQ, S.CANCELLED)
    ]
    recent = with_attempts(engine, make_job(engine, S.SUCCESS, finished_ago=60))
    assert prune(engine, older_than_seconds=DAY) == 3
    assert set(statuses(engine)) == {recent}
    assert all(attempt_rows(engine, job_id) == [] for job_id in old)
    assert len(attempt_rows(engine, recent)) == 1


def test_prune_leaves_jobs_that_are_not_finished_however_old(engine: Engine) -> None:
    unfinished = [
        make_job(engine, status, run_in=-30 * DAY, created_at=db_now(engine) - timedelta(days=30))
        for status in (S.CREATED, S.SCHEDULED, S.RUNNING, S.FAILED)
    ]
    with_attempts(engine, unfinished[2])
    assert prune(engine, older_than_seconds=60) == 0
    assert sorted(statuses(engine)) == sorted(unfinished)
    assert len(attempt_rows(engine, unfinished[2])) == 1


def test_prune_deletes_in_bounded_batches_until_none_are_left(engine: Engine) -> None:
    for job_id in make_jobs(engine, 7, S.SUCCESS, finished_ago=2 * DAY):
        with_attempts(engine, job_id)
    with deleted_rows_per_statement(engine, "jobs") as deleted:
        assert prune(engine, older_than_seconds=DAY, batch=3) == 7
    assert deleted == [3, 3, 1]
    assert count_rows(engine, jobs) == 0
    assert count_rows(engine, job_attempts) == 0
