"""The schedule tick: recover expired leases, promote due jobs, prune old finished ones."""

from __future__ import annotations

from sqlalchemy import Engine

from common.schedule import ScheduleSummary, schedule_tick
from common.states import Status
from tests.factories import expire_lease, make_job, make_jobs, statuses

S = Status
DAY = 24 * 3600.0


def test_one_schedule_tick_does_each_of_its_chores(engine: Engine) -> None:
    created, failed = make_job(engine, S.CREATED), make_job(engine, S.FAILED)
    not_due = make_job(engine, S.CREATED, run_in=600)
    crashed, out_of_attempts = make_job(engine, S.RUNNING), make_job(engine, S.RUNNING, attempts=5)
    expire_lease(engine, crashed)
    expire_lease(engine, out_of_attempts)
    make_job(engine, S.SUCCESS, finished_ago=2 * DAY)
    recent = make_job(engine, S.SUCCESS, finished_ago=60)

    summary = schedule_tick(engine, budget_seconds=10, retention_seconds=DAY)

    assert summary == ScheduleSummary(promoted=1, retried=1, recovered=1, dead_lettered=1, pruned=1)
    assert statuses(engine) == {
        created: S.SCHEDULED,
        failed: S.SCHEDULED,
        not_due: S.CREATED,
        crashed: S.SCHEDULED,
        out_of_attempts: S.DLQ,
        recent: S.SUCCESS,
    }


def test_a_schedule_tick_works_through_a_backlog_in_batches(engine: Engine) -> None:
    make_jobs(engine, 7, S.CREATED)
    assert schedule_tick(engine, budget_seconds=10, retention_seconds=DAY, batch=3).promoted == 7
    assert set(statuses(engine).values()) == {S.SCHEDULED}
