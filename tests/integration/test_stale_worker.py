"""A worker frozen past its lease (SIGSTOP) while another takes the job over and finishes it
cannot, once thawed (SIGCONT), overwrite the newer outcome; the attempt history shows both
attempts, and says the stale one came back too late to count."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from multiprocessing.queues import Queue
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from common.db import make_engine
from common.enqueue import NewJob, enqueue_many
from common.handlers.registry import Job, JobContext, Registry
from common.models import jobs
from common.schedule import promote_due, recover_expired
from common.transitions import LATE_END, LEASE_EXPIRED
from common.worker import TickOptions, work_tick
from tests.factories import attempt_rows, db_now, job_row

LEASE_SECONDS = 1.0
RUN_SECONDS = 1.0


def registry() -> Registry:
    registry = Registry()

    @registry.job_type("report", timeout_seconds=20)
    def report(job: Job, ctx: JobContext) -> dict[str, Any]:
        time.sleep(RUN_SECONDS)
        return {"attempt": job.attempt}

    return registry


def stale_tick(url: str, summaries: Queue[dict[str, int]]) -> None:
    options = TickOptions(
        worker_id="stale", budget_seconds=30, lease_seconds=LEASE_SECONDS, stop_when_idle=True
    )
    summaries.put(work_tick(make_engine(url), registry(), options).as_dict())


def started_attempts(engine: Engine) -> int:
    with engine.connect() as conn:
        query = select(func.count()).where(jobs.c.status == "RUNNING", jobs.c.locked_by == "stale")
        return int(conn.execute(query).scalar_one())


@pytest.mark.slow
def test_a_worker_thawed_after_its_lease_passed_on_cannot_overwrite_the_newer_outcome(
    mariadb_engine: Engine,
) -> None:
    with mariadb_engine.begin() as conn:
        [job_id] = enqueue_many(conn, [NewJob(type="report", payload={})], registry=registry())
    promote_due(mariadb_engine)
    url = mariadb_engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    summaries: Queue[dict[str, int]] = context.Queue()
    frozen = context.Process(target=stale_tick, args=(url, summaries))
    frozen.start()
    assert frozen.pid is not None
    deadline = time.monotonic() + 30
    while not started_attempts(mariadb_engine):
        assert time.monotonic() < deadline, "the first worker never claimed the job"
        time.sleep(0.05)
    time.sleep(0.2)  # mid-attempt
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        while job_row(mariadb_engine, job_id)["locked_until"] > db_now(mariadb_engine):
            time.sleep(0.1)  # its lease runs out: nobody extends it
        assert recover_expired(mariadb_engine).rescheduled == 1
        fresh = TickOptions(worker_id="fresh", budget_seconds=10, stop_when_idle=True)
        assert work_tick(mariadb_engine, registry(), fresh).succeeded == 1
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    stale = summaries.get(timeout=30)
    frozen.join(timeout=30)

    assert (stale["succeeded"], stale["lease_lost"]) == (0, 1)
    row = job_row(mariadb_engine, job_id)
    assert (row["status"], row["result"], row["attempts"]) == ("SUCCESS", {"attempt": 2}, 2)
    first, second = attempt_rows(mariadb_engine, job_id)
    assert (first["attempt"], first["worker_id"], first["outcome"]) == (1, "stale", "lease_expired")
    assert first["error"] == f"{LEASE_EXPIRED}; {LATE_END} (success)"
    assert (second["attempt"], second["worker_id"], second["outcome"]) == (2, "fresh", "success")
