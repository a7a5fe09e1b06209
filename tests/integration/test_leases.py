"""Leases: an expired one is a failed attempt, and a worker that lost its lease is fenced off."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from common.claim import claim, extend_lease
from common.db import transaction
from common.errors import LeaseLost
from common.finish import finish
from common.retry import BackoffPolicy
from common.schedule import recover_expired
from common.states import Status
from common.transitions import LEASE_EXPIRED, ClaimedJob, Finished, Recovered, mark_started
from tests.factories import attempt_rows, db_now, expire_lease, finish_one, job_row, make_job

S = Status
BACKOFF = BackoffPolicy(base_seconds=10, max_seconds=3600, jitter=0)


def claim_one(engine: Engine, worker_id: str) -> ClaimedJob:
    """Claim a job and start its attempt, as a worker that then runs it does."""
    [job] = claim(engine, worker_id=worker_id, limit=1, lease_seconds=60)
    with transaction(engine) as conn:
        mark_started(conn, [job])
    return job


def test_jobs_a_dead_worker_claimed_count_a_lost_attempt_as_it_may_have_started_them(
    engine: Engine,
) -> None:
    # A tick that dies soon after its claim may have started these jobs without having said
    # so yet (starts are written in batches): each counts a lost attempt, shown in the history.
    ids = [make_job(engine, max_attempts=2) for _ in range(3)]
    claim(engine, worker_id="died-early", limit=3, lease_seconds=60)
    for job_id in ids:
        expire_lease(engine, job_id)

    assert recover_expired(engine) == Recovered(rescheduled=3, dead_lettered=0)

    for job_id in ids:
        row = job_row(engine, job_id)
        assert (row["status"], row["attempts"]) == (S.SCHEDULED, 1)
        assert (row["lease_token"], row["locked_until"]) == (None, None)
        [attempt] = attempt_rows(engine, job_id)
        assert (attempt["outcome"], attempt["worker_id"]) == ("lease_expired", "died-early")


def test_a_job_claimed_by_a_row_without_a_start_comes_back_unharmed(engine: Engine) -> None:
    # A RUNNING row without started_at (written before claims noted one): never started.
    job_id = make_job(engine, S.RUNNING, started_at=None, max_attempts=1)
    expire_lease(engine, job_id)

    assert recover_expired(engine) == Recovered(rescheduled=1, dead_lettered=0)

    row = job_row(engine, job_id)
    assert (row["status"], row["started_at"], row["lease_token"]) == (S.SCHEDULED, None, None)
    assert attempt_rows(engine, job_id) == []


def test_a_job_whose_lease_expired_is_scheduled_again_with_the_attempt_recorded(
    engine: Engine,
) -> None:
    job_id = make_job(engine, max_attempts=3)
    claim_one(engine, "crashed-worker")
    expire_lease(engine, job_id)
    before = db_now(engine)

    assert recover_expired(engine) == Recovered(rescheduled=1, dead_lettered=0)

    row = job_row(engine, job_id)
    assert row["status"] == S.SCHEDULED
    assert row["attempts"] == 1  # the lost attempt counts
    assert (row["lease_token"], row["locked_until"]) == (None, None)
    assert row["last_error"] == LEASE_EXPIRED
    assert row["run_at"] <= db_now(engine)
    [attempt] = attempt_rows(engine, job_id)
    assert (attempt["attempt"], attempt["worker_id"], attempt["outcome"]) == (
        1,
        "crashed-worker",
        "lease_expired",
    )
    assert attempt["error"] == LEASE_EXPIRED
    assert attempt["ended_at"] >= before


def test_a_job_whose_lease_expired_on_its_last_attempt_goes_to_the_dlq(engine: Engine) -> None:
    job_id = make_job(engine, attempts=2, max_attempts=3)
    claim_one(engine, "w")
    expire_lease(engine, job_id)

    assert recover_expired(engine) == Recovered(rescheduled=0, dead_lettered=1)

    row = job_row(engine, job_id)
    assert (row["status"], row["attempts"], row["lease_token"]) == (S.DLQ, 3, None)
    assert row["finished_at"] is not None
    assert [a["outcome"] for a in attempt_rows(engine, job_id)] == ["lease_expired"]


def test_recovery_leaves_running_jobs_with_a_live_lease_alone(engine: Engine) -> None:
    job_id = make_job(engine, S.RUNNING)
    token = job_row(engine, job_id)["lease_token"]
    assert recover_expired(engine) == Recovered()
    assert (job_row(engine, job_id)["status"], job_row(engine, job_id)["lease_token"]) == (
        S.RUNNING,
        token,
    )
    assert attempt_rows(engine, job_id) == []


def test_recovery_works_in_batches_of_its_limit(engine: Engine) -> None:
    ids = [make_job(engine, S.RUNNING) for _ in range(3)]
    for job_id in ids:
        expire_lease(engine, job_id)
    assert recover_expired(engine, limit=2).rescheduled == 2
    assert recover_expired(engine, limit=2).rescheduled == 1
    assert all(job_row(engine, job_id)["status"] == S.SCHEDULED for job_id in ids)


def test_a_stale_worker_cannot_finish_a_job_another_worker_now_holds(engine: Engine) -> None:
    job_id = make_job(engine)
    stale = claim_one(engine, "worker-a")
    expire_lease(engine, job_id)
    recover_expired(engine)
    current = claim_one(engine, "worker-b")
    assert current.id == job_id

    with pytest.raises(LeaseLost):
        finish_one(engine, Finished(stale, result={"from": "a"}), BACKOFF)
    with pytest.raises(LeaseLost):
        finish_one(engine, Finished(stale, error="boom"), BACKOFF)
    with pytest.raises(LeaseLost):
        extend_lease(engine, stale, 600)

    row = job_row(engine, job_id)
    assert (row["status"], row["lease_token"], row["locked_by"], row["attempts"]) == (
        S.RUNNING,
        current.lease_token,
        "worker-b",
        2,
    )
    assert row["result"] is None
    finish_one(engine, Finished(current, result={"from": "b"}), BACKOFF)
    row = job_row(engine, job_id)
    assert (row["status"], row["result"]) == (S.SUCCESS, {"from": "b"})
    assert [(a["attempt"], a["worker_id"], a["outcome"]) for a in attempt_rows(engine, job_id)] == [
        (1, "worker-a", "lease_expired"),
        (2, "worker-b", "success"),
    ]


def test_a_stale_worker_cannot_finish_a_job_that_recovery_dead_lettered(engine: Engine) -> None:
    job_id = make_job(engine, max_attempts=1)
    stale = claim_one(engine, "worker-a")
    expire_lease(engine, job_id)
    recover_expired(engine)
    with pytest.raises(LeaseLost):
        finish_one(engine, Finished(stale, result="late"), BACKOFF)
    assert (job_row(engine, job_id)["status"], job_row(engine, job_id)["result"]) == (S.DLQ, None)


def test_a_batch_with_one_lost_lease_still_records_the_others(engine: Engine) -> None:
    lost_id, kept_id, failed_id = make_job(engine), make_job(engine), make_job(engine)
    lost, kept, failing = claim(engine, worker_id="a", limit=3, lease_seconds=60)
    assert [lost.id, kept.id, failing.id] == [lost_id, kept_id, failed_id]
    with transaction(engine) as conn:
        mark_started(conn, [lost, kept, failing])
    expire_lease(engine, lost_id)
    recover_expired(engine)

    done = [Finished(lost, result=1), Finished(kept, result=2), Finished(failing, error="x")]
    assert finish(engine, done, BACKOFF).lost == [done[0]]

    assert job_row(engine, lost_id)["status"] == S.SCHEDULED
    assert (job_row(engine, kept_id)["status"], job_row(engine, kept_id)["result"]) == (
        S.SUCCESS,
        2,
    )
    assert job_row(engine, failed_id)["status"] == S.FAILED
    assert [a["outcome"] for a in attempt_rows(engine, lost_id)] == ["lease_expired"]
