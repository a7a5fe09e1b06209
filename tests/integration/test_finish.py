"""Finishing attempts: results stored, failures retried after their backoff, then dead-lettered."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from common.claim import claim
from common.finish import finish
from common.retry import BackoffPolicy
from common.schedule import promote_due
from common.states import Status
from common.transitions import ClaimedJob, Finished
from tests.factories import (
    attempt_rows,
    db_now,
    finish_one,
    job_row,
    make_due,
    make_job,
    make_jobs,
)

S = Status
BACKOFF = BackoffPolicy(base_seconds=10, max_seconds=3600, jitter=0.5)
# The databases keep microseconds, SQLite only milliseconds.
CLOCK_GRAIN = timedelta(milliseconds=1)


def half() -> float:
    return 0.5


def claim_one(engine: Engine) -> ClaimedJob:
    [job] = claim(engine, worker_id="w", limit=1, lease_seconds=60)
    return job


def test_a_success_stores_the_result_and_ends_the_job(engine: Engine) -> None:
    job_id = make_job(engine)
    job = claim_one(engine)
    finish_one(engine, Finished(job, result={"pages": 3, "ok": [True]}), BACKOFF)
    row = job_row(engine, job_id)
    assert (row["status"], row["result"], row["lease_token"], row["locked_until"]) == (
        S.SUCCESS,
        {"pages": 3, "ok": [True]},
        None,
        None,
    )
    assert row["finished_at"] is not None
    [attempt] = attempt_rows(engine, job_id)
    assert (attempt["attempt"], attempt["worker_id"], attempt["outcome"]) == (1, "w", "success")
    assert attempt["started_at"] == row["started_at"]


def test_successes_finished_together_each_keep_their_own_result(engine: Engine) -> None:
    ids = make_jobs(engine, 4)
    claimed = claim(engine, worker_id="w", limit=4, lease_seconds=60)
    results = [{"n": 1}, None, "text", [1, 2]]
    done = [Finished(job, result=r) for job, r in zip(claimed, results, strict=True)]
    assert finish(engine, done, BACKOFF).lost == []
    assert [job_row(engine, i)["result"] for i in ids] == results
    assert all(job_row(engine, i)["status"] == S.SUCCESS for i in ids)


def test_a_failure_with_attempts_left_waits_for_its_backoff(engine: Engine) -> None:
    job_id = make_job(engine, max_attempts=3)
    job = claim_one(engine)
    before = db_now(engine)
    finish_one(engine, Finished(job, error="JobError: smtp down"), BACKOFF, rand=half)
    after = db_now(engine)

    delay = timedelta(seconds=BACKOFF.delay_seconds(1, half))
    assert delay == timedelta(seconds=15)  # 10 * 2**1, shortened by half the 50 % jitter
    row = job_row(engine, job_id)
    assert (row["status"], row["attempts"], row["last_error"]) == (
        S.FAILED,
        1,
        "JobError: smtp down",
    )
    assert before + delay - CLOCK_GRAIN <= row["run_at"] <= after + delay + CLOCK_GRAIN
    assert (row["lease_token"], row["finished_at"]) == (None, None)
    [attempt] = attempt_rows(engine, job_id)
    assert (attempt["outcome"], attempt["error"]) == ("error", "JobError: smtp down")


def test_a_failed_job_is_not_promoted_before_its_backoff_has_passed(engine: Engine) -> None:
    job_id = make_job(engine)
    finish_one(engine, Finished(claim_one(engine), error="boom"), BACKOFF, rand=half)
    assert promote_due(engine, S.FAILED) == 0
    assert job_row(engine, job_id)["status"] == S.FAILED


def test_retries_back_off_exponentially_then_the_last_failure_goes_to_the_dlq(
    engine: Engine,
) -> None:
    job_id = make_job(engine, max_attempts=3)
    for attempt in (1, 2):
        job = claim_one(engine)
        assert job.attempt == attempt
        before = db_now(engine)
        finish_one(engine, Finished(job, error=f"failure {attempt}"), BACKOFF, rand=half)
        delay = timedelta(seconds=10 * 2**attempt * 0.75)
        row = job_row(engine, job_id)
        assert row["status"] == S.FAILED
        assert before + delay - CLOCK_GRAIN <= row["run_at"] <= db_now(engine) + delay + CLOCK_GRAIN
        make_due(engine, job_id)
        assert promote_due(engine, S.FAILED) == 1

    finish_one(engine, Finished(claim_one(engine), error="failure 3"), BACKOFF, rand=half)

    row = job_row(engine, job_id)
    assert (row["status"], row["attempts"], row["last_error"]) == (S.DLQ, 3, "failure 3")
    assert row["finished_at"] is not None
    assert [(a["attempt"], a["outcome"], a["error"]) for a in attempt_rows(engine, job_id)] == [
        (1, "error", "failure 1"),
        (2, "error", "failure 2"),
        (3, "error", "failure 3"),
    ]


def test_the_backoff_is_capped(engine: Engine) -> None:
    job_id = make_job(engine, attempts=20, max_attempts=50)
    before = db_now(engine)
    finish_one(engine, Finished(claim_one(engine), error="x"), BACKOFF, rand=lambda: 0.0)
    cap = timedelta(seconds=3600)
    run_at = job_row(engine, job_id)["run_at"]
    assert before + cap - CLOCK_GRAIN <= run_at <= db_now(engine) + cap + CLOCK_GRAIN


def test_a_permanent_error_goes_to_the_dlq_at_once_without_burning_attempts(
    engine: Engine,
) -> None:
    job_id = make_job(engine, max_attempts=5)
    job = claim_one(engine)
    finish_one(engine, Finished(job, error="invalid address", permanent=True), BACKOFF)
    row = job_row(engine, job_id)
    assert (row["status"], row["attempts"], row["max_attempts"]) == (S.DLQ, 1, 5)
    assert row["last_error"] == "invalid address"
    assert row["finished_at"] is not None
    assert [a["outcome"] for a in attempt_rows(engine, job_id)] == ["permanent_error"]
