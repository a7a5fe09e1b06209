"""A worker process killed mid-batch (SIGKILL: no cleanup at all) loses no job: the leases of
what it held expire, the schedule step records those attempts as lease_expired and reschedules
the jobs, and another worker finishes them."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest
from sqlalchemy import Engine, func, select

from common.db import make_engine
from common.enqueue import NewJob, enqueue_many
from common.handlers.registry import Job, JobContext, Registry
from common.models import job_attempts, jobs
from common.schedule import promote_due, recover_expired
from common.states import Status
from common.worker import TickOptions, work_tick

LEASE_SECONDS = 1.0


def slow_registry() -> Registry:
    registry = Registry()

    @registry.job_type("slow", timeout_seconds=5)
    def slow(job: Job, ctx: JobContext) -> dict[str, int]:
        time.sleep(0.2)
        return {"attempt": job.attempt}

    return registry


def work_until_killed(url: str) -> None:
    options = TickOptions(
        worker_id="doomed", budget_seconds=60, batch_size=10, lease_seconds=LEASE_SECONDS
    )
    work_tick(make_engine(url), slow_registry(), options)


def count_by_status(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
        return {status: n for status, n in rows}


@pytest.mark.slow
def test_jobs_held_by_a_killed_worker_are_recovered_by_their_lease_and_finished_once(
    mariadb_engine: Engine,
) -> None:
    with mariadb_engine.begin() as conn:
        enqueue_many(
            conn,
            [NewJob(type="slow", payload={"n": n}) for n in range(20)],
            registry=slow_registry(),
        )
    promote_due(mariadb_engine)
    url = mariadb_engine.url.render_as_string(hide_password=False)
    worker = multiprocessing.get_context("spawn").Process(target=work_until_killed, args=(url,))
    worker.start()
    deadline = time.monotonic() + 30
    while count_by_status(mariadb_engine).get(Status.SUCCESS, 0) < 3:  # mid-batch
        assert time.monotonic() < deadline, "the worker never got going"
        time.sleep(0.05)
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)
    worker.join()
    at_kill = count_by_status(mariadb_engine)
    held = at_kill.get(Status.RUNNING, 0)
    assert held > 0, "kill it while it holds jobs"

    time.sleep(LEASE_SECONDS + 0.2)
    recovered = recover_expired(mariadb_engine)
    assert (recovered.rescheduled, recovered.dead_lettered) == (held, 0)

    summary = work_tick(
        mariadb_engine,
        slow_registry(),
        TickOptions(worker_id="rescuer", budget_seconds=30, stop_when_idle=True),
    )
    assert count_by_status(mariadb_engine) == {Status.SUCCESS: 20}
    with mariadb_engine.connect() as conn:
        rows = conn.execute(
            select(job_attempts.c.outcome, func.count()).group_by(job_attempts.c.outcome)
        ).all()
    assert {outcome: n for outcome, n in rows} == {"success": 20, "lease_expired": held}
    assert summary.succeeded == 20 - at_kill.get(Status.SUCCESS, 0)
