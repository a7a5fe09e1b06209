"""The claim: which due jobs a worker gets, in what order, and what holding them means."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from common.claim import claim, claim_query, extend_lease, release
from common.errors import LeaseLost
from common.schedule import promote_due
from common.states import Status
from tests.databases import selected_backends
from tests.factories import db_now, job_row, make_job, make_jobs, status_of

S = Status
SERVERS = [name for name in selected_backends() if name != "sqlite"]


def claim_ids(engine: Engine, limit: int = 100, queues: list[str] | None = None) -> list[int]:
    jobs = claim(engine, worker_id="w1", limit=limit, lease_seconds=60, queues=queues)
    return [job.id for job in jobs]


def test_claim_takes_the_highest_priority_first(engine: Engine) -> None:
    low = make_job(engine, priority=-5)
    high = make_job(engine, priority=10)
    middle = make_job(engine, priority=0)
    assert claim_ids(engine) == [high, middle, low]


def test_claim_takes_the_earliest_run_at_first_within_a_priority(engine: Engine) -> None:
    recent = make_job(engine, run_in=-1)
    oldest = make_job(engine, run_in=-300)
    older = make_job(engine, run_in=-60)
    urgent = make_job(engine, run_in=-1, priority=1)
    assert claim_ids(engine) == [urgent, oldest, older, recent]


def test_claim_breaks_ties_by_id(engine: Engine) -> None:
    run_at = db_now(engine) - timedelta(seconds=5)
    ids = [make_job(engine, run_at=run_at) for _ in range(3)]
    assert claim_ids(engine) == ids


def test_claim_takes_at_most_its_limit_and_the_best_ones(engine: Engine) -> None:
    ordinary = make_jobs(engine, 3)
    best = make_job(engine, priority=3)
    assert claim_ids(engine, limit=2) == [best, ordinary[0]]
    assert claim_ids(engine, limit=2) == ordinary[1:]
    assert claim_ids(engine, limit=2) == []


def test_claim_skips_jobs_whose_run_at_is_in_the_future(engine: Engine) -> None:
    future = make_job(engine, run_in=60, priority=100)
    due = make_job(engine, run_in=-1)
    assert claim_ids(engine) == [due]
    assert status_of(engine, future) == S.SCHEDULED


@pytest.mark.parametrize("status", [S.CREATED, S.RUNNING, S.SUCCESS, S.FAILED, S.DLQ, S.CANCELLED])
def test_claim_takes_only_scheduled_jobs(engine: Engine, status: Status) -> None:
    other = make_job(engine, status, run_in=-10)
    assert claim_ids(engine) == []
    assert status_of(engine, other) == status


def test_claim_takes_only_the_queues_asked_for(engine: Engine) -> None:
    mail = make_job(engine, queue="mail")
    make_job(engine, queue="pdf")
    urgent_mail = make_job(engine, queue="mail", priority=5)
    assert claim_ids(engine, queues=["mail", "other"]) == [urgent_mail, mail]
    assert [job.queue for job in claim(engine, worker_id="w", limit=9, lease_seconds=60)] == ["pdf"]


def test_a_claimed_job_is_running_with_a_lease_and_its_attempt_counted(engine: Engine) -> None:
    job_id = make_job(engine, type="thumbnail", payload={"size": 64}, attempts=1, max_attempts=4)
    before = db_now(engine)
    [job] = claim(engine, worker_id="worker-7", limit=5, lease_seconds=90)
    after = db_now(engine)
    row = job_row(engine, job_id)
    assert (job.id, job.type, job.payload, job.attempt, job.max_attempts) == (
        job_id,
        "thumbnail",
        {"size": 64},
        2,
        4,
    )
    assert row["status"] == S.RUNNING
    assert row["attempts"] == 2
    assert row["lease_token"] == job.lease_token
    assert row["locked_by"] == "worker-7"
    assert before + timedelta(seconds=89) <= row["locked_until"] <= after + timedelta(seconds=91)
    # The claim's time until the attempt's start is written: a worker that dies may have
    # started it, so recovery counts the attempt.
    assert before <= row["started_at"] <= after


def test_each_claim_gets_its_own_lease_token(engine: Engine) -> None:
    make_jobs(engine, 2)
    [first] = claim(engine, worker_id="w", limit=1, lease_seconds=60)
    [second] = claim(engine, worker_id="w", limit=1, lease_seconds=60)
    assert first.lease_token != second.lease_token


def test_scheduled_jobs_that_are_not_yet_due_are_not_promoted_or_claimed(engine: Engine) -> None:
    created = make_job(engine, S.CREATED, run_in=60)
    failed = make_job(engine, S.FAILED, run_in=60)
    assert promote_due(engine, S.CREATED) == 0
    assert promote_due(engine, S.FAILED) == 0
    assert claim_ids(engine) == []
    assert (status_of(engine, created), status_of(engine, failed)) == (S.CREATED, S.FAILED)


def test_due_created_and_failed_jobs_are_promoted_to_scheduled(engine: Engine) -> None:
    created = make_job(engine, S.CREATED, run_in=-1)
    failed = make_job(engine, S.FAILED, run_in=-1)
    assert promote_due(engine, S.CREATED) == 1
    assert promote_due(engine, S.FAILED) == 1
    assert claim_ids(engine) == [created, failed]


def test_promotion_moves_at_most_its_limit_oldest_first(engine: Engine) -> None:
    newer = make_jobs(engine, 2, S.CREATED, run_in=-1)
    oldest = make_job(engine, S.CREATED, run_in=-100)
    assert promote_due(engine, S.CREATED, limit=2) == 2
    assert status_of(engine, oldest) == S.SCHEDULED
    assert [status_of(engine, job_id) for job_id in newer] == [S.SCHEDULED, S.CREATED]


def test_extend_lease_pushes_locked_until_forward(engine: Engine) -> None:
    make_job(engine)
    [job] = claim(engine, worker_id="w", limit=1, lease_seconds=5)
    extend_lease(engine, job, 600)
    assert job_row(engine, job.id)["locked_until"] > db_now(engine) + timedelta(seconds=590)


def test_release_returns_an_unstarted_job_to_the_queue_as_if_never_claimed(engine: Engine) -> None:
    job_id = make_job(engine)
    claimed = claim(engine, worker_id="w", limit=1, lease_seconds=60)
    assert release(engine, claimed) == 1
    row = job_row(engine, job_id)
    assert (row["status"], row["attempts"], row["lease_token"], row["locked_until"]) == (
        S.SCHEDULED,
        0,
        None,
        None,
    )
    with pytest.raises(LeaseLost):
        extend_lease(engine, claimed[0], 60)
    assert claim_ids(engine) == [job_id]


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_claim_skips_rows_another_transaction_holds_instead_of_waiting(engine: Engine) -> None:
    ids = make_jobs(engine, 5)
    with engine.connect() as other, other.begin():
        other.execute(
            claim_query(), {"limit": 2}
        ).all()  # another worker's claim, not yet committed
        started = time.monotonic()
        assert claim_ids(engine) == ids[2:]
        assert time.monotonic() - started < 5
