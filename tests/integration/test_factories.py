"""The factory's jobs look like jobs the engine put in that state, so tests can start anywhere."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from common.retry import BackoffPolicy
from common.states import TERMINAL, Status
from common.transitions import ClaimedJob, Finished
from tests.factories import finish_one, job_row, make_job, status_of

S = Status


@pytest.mark.parametrize("status", list(Status))
def test_a_made_job_has_the_columns_its_status_implies(engine: Engine, status: Status) -> None:
    row = job_row(engine, make_job(engine, status))
    assert row["status"] == status
    assert (row["lease_token"] is not None) == (status == S.RUNNING)
    assert (row["locked_until"] is not None) == (status == S.RUNNING)
    assert (row["finished_at"] is not None) == (status in TERMINAL)
    assert (row["result"] is not None) == (status == S.SUCCESS)
    assert (row["last_error"] is not None) == (status in {S.FAILED, S.DLQ})
    started = status not in {S.CREATED, S.SCHEDULED, S.CANCELLED}
    assert (row["attempts"] >= 1) == started
    assert (row["started_at"] is not None) == started


def test_columns_can_be_overridden(engine: Engine) -> None:
    row = job_row(engine, make_job(engine, S.DLQ, attempts=4, max_attempts=4, queue="mail"))
    assert (row["attempts"], row["max_attempts"], row["queue"]) == (4, 4, "mail")


def test_a_made_running_job_can_be_finished_by_the_worker_holding_its_lease(
    engine: Engine,
) -> None:
    job_id = make_job(engine, S.RUNNING)
    row = job_row(engine, job_id)
    held = ClaimedJob(
        job_id,
        row["type"],
        row["queue"],
        row["payload"],
        1,
        5,
        row["lease_token"],
        row["locked_by"],
    )
    finish_one(engine, Finished(held, result="ok"), BackoffPolicy(10, 3600, 0))
    assert status_of(engine, job_id) == S.SUCCESS
