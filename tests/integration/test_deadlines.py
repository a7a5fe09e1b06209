"""Deadlines (not_after): a job not started by then never starts, and ends CANCELLED saying so.

Checked twice: set-based in the schedule step, and again in the claim, so that a worker that
races the schedule step cannot start a job past its deadline (shown with real processes on
MariaDB). A retry that would start after the deadline is cancelled the same way.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from common.claim import claim
from common.db import make_engine, transaction
from common.enqueue import NewJob, enqueue
from common.handlers.builtin import register_builtins
from common.handlers.registry import Registry
from common.models import job_attempts
from common.retry import BackoffPolicy
from common.schedule import expire_overdue, schedule_tick
from common.states import Status
from common.transitions import DEADLINE_PASSED
from common.worker import TickOptions, work_tick
from tests.factories import attempt_rows, db_now, job_row, make_job, make_jobs, statuses

S = Status
PAST = {"not_after": datetime(2000, 1, 1)}
BACKOFF = BackoffPolicy(base_seconds=30, max_seconds=3600, jitter=0)


def registry() -> Registry:
    built = Registry()
    register_builtins(built)
    return built


def test_enqueue_stores_the_deadline_given_or_counted_from_the_database_clock(
    engine: Engine,
) -> None:
    with transaction(engine) as conn:
        given = enqueue(conn, NewJob("noop", not_after=datetime(2031, 1, 1, 9, tzinfo=UTC)))
        counted = enqueue(conn, NewJob("noop", expires_in_seconds=60))
        none = enqueue(conn, NewJob("noop"))
    now = db_now(engine)
    assert job_row(engine, given.id)["not_after"] == datetime(2031, 1, 1, 9)
    assert abs(
        job_row(engine, counted.id)["not_after"] - (now + timedelta(seconds=60))
    ) < timedelta(seconds=5)
    assert job_row(engine, none.id)["not_after"] is None


def test_the_schedule_step_cancels_jobs_not_started_by_their_deadline(engine: Engine) -> None:
    waiting = {
        status: make_job(engine, status, **PAST) for status in (S.CREATED, S.SCHEDULED, S.FAILED)
    }
    running = make_job(engine, S.RUNNING, **PAST)  # started in time: it may finish
    later = make_job(engine, S.SCHEDULED, not_after=datetime(2999, 1, 1))
    summary = schedule_tick(engine, budget_seconds=5, retention_seconds=3600)

    assert summary.expired == 3
    for job_id in waiting.values():
        row = job_row(engine, job_id)
        assert (row["status"], row["last_error"]) == (S.CANCELLED, DEADLINE_PASSED)
        assert row["finished_at"] is not None
    assert statuses(engine)[running] == S.RUNNING
    assert statuses(engine)[later] == S.SCHEDULED


def test_a_claim_that_finds_a_job_past_its_deadline_cancels_it_instead(engine: Engine) -> None:
    late = make_jobs(engine, 3, S.SCHEDULED, **PAST)
    in_time = make_jobs(engine, 2, S.SCHEDULED, not_after=datetime(2999, 1, 1))
    plain = make_job(engine, S.SCHEDULED)

    claimed = claim(engine, worker_id="w", limit=10, lease_seconds=60)

    assert sorted(job.id for job in claimed) == sorted([*in_time, plain])
    assert all(statuses(engine)[job_id] == S.CANCELLED for job_id in late)
    assert all(job_row(engine, job_id)["attempts"] == 0 for job_id in late)


def test_a_job_that_started_in_time_finishes_normally(engine: Engine) -> None:
    job_id = make_job(
        engine,
        type="sleep",
        payload={"seconds": 1.5},
        not_after=db_now(engine) + timedelta(seconds=1),
    )
    options = TickOptions(worker_id="w", budget_seconds=10, stop_when_idle=True)
    summary = work_tick(engine, registry(), options)
    assert summary.succeeded == 1
    assert statuses(engine)[job_id] == S.SUCCESS


def test_a_retry_that_would_start_past_the_deadline_ends_cancelled(engine: Engine) -> None:
    # Its first attempt fails; the backoff (60 s) would put the retry after its deadline.
    soon = db_now(engine) + timedelta(seconds=20)
    job_id = make_job(engine, type="fail", payload={"times": 1, "message": "down"}, not_after=soon)
    retried = make_job(engine, type="fail", payload={"times": 1}, not_after=datetime(2999, 1, 1))
    options = TickOptions(worker_id="w", budget_seconds=5, backoff=BACKOFF, stop_when_idle=True)
    work_tick(engine, registry(), options)

    row = job_row(engine, job_id)
    assert row["status"] == S.CANCELLED
    assert row["last_error"].startswith(DEADLINE_PASSED) and "JobError: down" in row["last_error"]
    assert [a["outcome"] for a in attempt_rows(engine, job_id)] == ["error"]
    assert statuses(engine)[retried] == S.FAILED  # its retry comes before its deadline


def race(url: str, role: str, seconds: float) -> int:
    """Claim (and finish) or sweep for ``seconds``; how many jobs this process claimed."""
    import time

    engine = make_engine(url)
    claimed = 0
    stop = time.monotonic() + seconds
    try:
        while time.monotonic() < stop:
            if role == "sweep":
                expire_overdue(engine, limit=50)
            else:
                jobs = claim(engine, worker_id=role, limit=20, lease_seconds=60)
                claimed += len(jobs)
                if jobs:
                    from common.finish import finish
                    from common.transitions import Finished

                    finish(engine, [Finished(job) for job in jobs], BACKOFF)
    finally:
        engine.dispose()
    return claimed


@pytest.mark.slow
def test_claims_racing_the_schedule_step_never_start_a_job_past_its_deadline(
    mariadb_engine: Engine, database_urls: dict[str, str]
) -> None:
    late = make_jobs(mariadb_engine, 600, S.SCHEDULED, **PAST)
    plain = make_jobs(mariadb_engine, 600, S.SCHEDULED)
    url = database_urls["mariadb"]
    roles = ["sweep", "sweep", "claim-1", "claim-2", "claim-3", "claim-4"]
    with multiprocessing.get_context("spawn").Pool(len(roles)) as pool:
        claimed = sum(pool.starmap(race, [(url, role, 6.0) for role in roles]))

    final = statuses(mariadb_engine)
    with mariadb_engine.connect() as conn:
        started = conn.execute(
            select(func.count()).select_from(job_attempts).where(job_attempts.c.job_id.in_(late))
        ).scalar_one()
    assert started == 0
    assert all(final[job_id] == S.CANCELLED for job_id in late)
    assert all(final[job_id] == S.SUCCESS for job_id in plain)
    assert claimed == len(plain)
