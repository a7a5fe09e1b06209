"""Every status change goes through transitions.move, which allows exactly the table's edges.

The named operations built on it refuse jobs in the wrong state: their guarded UPDATE changes
no row, or they refuse the request outright.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from common.claim import release
from common.errors import IllegalTransition
from common.maintenance import JobFilter, cancel_jobs, retry_jobs
from common.states import TRANSITIONS, Status
from common.transitions import ClaimedJob, move
from tests.factories import job_row, make_job, status_of

S = Status
ALL_PAIRS = [(src, dst) for src in Status for dst in Status]


def edge_id(pair: tuple[Status, Status]) -> str:
    return f"{pair[0]}->{pair[1]}"


def test_the_pairs_cover_all_49_combinations_of_seven_statuses() -> None:
    assert len(set(ALL_PAIRS)) == 49
    assert set(TRANSITIONS) < set(ALL_PAIRS)


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=edge_id)
def test_move_changes_status_only_along_an_edge_of_the_table(
    engine: Engine, pair: tuple[Status, Status]
) -> None:
    src, dst = pair
    job_id = make_job(engine, src)
    if pair in TRANSITIONS:
        with engine.begin() as conn:
            assert move(conn, [job_id], frm=src, to=dst) == 1
        assert status_of(engine, job_id) == dst
    else:
        with pytest.raises(IllegalTransition), engine.begin() as conn:
            move(conn, [job_id], frm=src, to=dst)
        assert status_of(engine, job_id) == src


def test_move_changes_no_row_whose_status_is_not_the_expected_one(engine: Engine) -> None:
    job_id = make_job(engine, S.CREATED)
    with engine.begin() as conn:
        assert move(conn, [job_id], frm=S.SCHEDULED, to=S.RUNNING) == 0
    assert status_of(engine, job_id) == S.CREATED


def test_move_with_a_fence_changes_only_the_job_holding_that_lease(engine: Engine) -> None:
    job_id = make_job(engine, S.RUNNING)
    token = job_row(engine, job_id)["lease_token"]
    with engine.begin() as conn:
        assert move(conn, [job_id], frm=S.RUNNING, to=S.SUCCESS, fence="not-the-token") == 0
        assert move(conn, [job_id], frm=S.RUNNING, to=S.SUCCESS, fence=token) == 1


def test_move_refuses_a_source_set_with_one_illegal_edge_before_touching_any_row(
    engine: Engine,
) -> None:
    failed, succeeded = make_job(engine, S.FAILED), make_job(engine, S.SUCCESS)
    with pytest.raises(IllegalTransition), engine.begin() as conn:
        move(conn, [failed, succeeded], frm={S.FAILED, S.SUCCESS}, to=S.SCHEDULED)
    assert (status_of(engine, failed), status_of(engine, succeeded)) == (S.FAILED, S.SUCCESS)


def test_move_stamps_updated_at_with_the_database_clock(engine: Engine) -> None:
    job_id = make_job(engine, S.CREATED)
    before = job_row(engine, job_id)["updated_at"]
    with engine.begin() as conn:
        move(conn, [job_id], frm=S.CREATED, to=S.SCHEDULED)
    assert job_row(engine, job_id)["updated_at"] >= before


@pytest.mark.parametrize("status", [S.RUNNING, S.SUCCESS, S.DLQ, S.CANCELLED])
def test_cancel_by_id_of_a_job_that_is_not_waiting_updates_no_row(
    engine: Engine, status: Status
) -> None:
    job_id = make_job(engine, status)
    assert cancel_jobs(engine, ids=[job_id]) == 0
    assert status_of(engine, job_id) == status


@pytest.mark.parametrize("status", [S.CREATED, S.SCHEDULED, S.RUNNING, S.SUCCESS, S.CANCELLED])
def test_retry_by_id_of_a_job_that_has_not_failed_updates_no_row(
    engine: Engine, status: Status
) -> None:
    job_id = make_job(engine, status)
    assert retry_jobs(engine, ids=[job_id]) == 0
    assert status_of(engine, job_id) == status


@pytest.mark.parametrize("status", [S.CREATED, S.SCHEDULED, S.RUNNING, S.SUCCESS, S.CANCELLED])
def test_retry_by_filter_on_a_status_that_is_not_retryable_raises(
    engine: Engine, status: Status
) -> None:
    job_id = make_job(engine, status)
    with pytest.raises(IllegalTransition):
        retry_jobs(engine, where=JobFilter(status=status))
    assert status_of(engine, job_id) == status


@pytest.mark.parametrize("status", [S.RUNNING, S.SUCCESS, S.DLQ, S.CANCELLED])
def test_cancel_by_filter_on_a_status_that_cannot_be_cancelled_raises(
    engine: Engine, status: Status
) -> None:
    job_id = make_job(engine, status)
    with pytest.raises(IllegalTransition):
        cancel_jobs(engine, where=JobFilter(status=status))
    assert status_of(engine, job_id) == status


def test_release_of_a_job_that_is_no_longer_running_updates_no_row(engine: Engine) -> None:
    job_id = make_job(engine, S.SUCCESS)
    row = job_row(engine, job_id)
    stale = ClaimedJob(job_id, "noop", "default", {}, 1, 5, row["lease_token"] or "gone", "w")
    assert release(engine, [stale]) == 0
    assert status_of(engine, job_id) == S.SUCCESS
