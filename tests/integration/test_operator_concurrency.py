"""An operator's retry by filter, racing a worker in another process on MariaDB, touches each
job at most once and returns: a job it retried that fails fast back into the DLQ is not
retried again by the same call."""

from __future__ import annotations

import multiprocessing
import time
import traceback
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import pytest
from sqlalchemy import Engine, event

from common.db import make_engine
from common.handlers.registry import Job, JobContext, Registry
from common.maintenance import JobFilter, retry_jobs
from common.states import Status
from common.worker import TickOptions, work_tick
from tests.factories import attempt_rows, job_row, make_jobs

S = Status
JOBS, BATCH = 6, 2
PAUSE_SECONDS = 0.5  # between the operator's transactions: time for the worker to fail a job


def doomed(job: Job, ctx: JobContext) -> None:
    raise RuntimeError("fails again at once")


def work(url: str, stop: Event) -> None:
    """A worker process: claims and fails ``doomed`` jobs as fast as they come, until told."""
    engine = make_engine(url)
    registry = Registry()
    registry.job_type("doomed", timeout_seconds=5)(doomed)
    options = TickOptions("worker", 5, batch_size=BATCH, poll_seconds=0.01, stop_when_idle=True)
    while not stop.is_set():
        if work_tick(engine, registry, options).claimed == 0:
            time.sleep(0.01)
    engine.dispose()


def operate(url: str, report: Queue[Any]) -> None:
    """The operator's process: retry every DLQ job, BATCH at a time, slowly."""
    engine = make_engine(url)
    event.listen(engine, "begin", lambda conn: time.sleep(PAUSE_SECONDS))
    try:
        report.put(retry_jobs(engine, where=JobFilter(status=S.DLQ), batch=BATCH))
    except BaseException:
        report.put(traceback.format_exc())
        raise
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_retry_by_filter_retries_each_job_once_while_a_worker_fails_them_again(
    mariadb_engine: Engine,
) -> None:
    ids = make_jobs(mariadb_engine, JOBS, S.DLQ, type="doomed", attempts=1, max_attempts=1)
    url = mariadb_engine.url.render_as_string(hide_password=False)
    spawn = multiprocessing.get_context("spawn")
    stop, report = spawn.Event(), spawn.Queue()
    worker = spawn.Process(target=work, args=(url, stop))
    operator = spawn.Process(target=operate, args=(url, report))
    worker.start()
    operator.start()
    try:
        retried = report.get(timeout=30)  # ~4 s; before, it never returned
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            job_row(mariadb_engine, job_id)["status"] != S.DLQ for job_id in ids
        ):
            time.sleep(0.1)
    finally:
        stop.set()
        for process in (operator, worker):
            process.join(timeout=15)
            if process.is_alive():
                process.kill()

    assert retried == JOBS
    for job_id in ids:
        row = job_row(mariadb_engine, job_id)
        assert (row["status"], row["attempts"]) == (S.DLQ, 2), row  # one retry each
        assert len(attempt_rows(mariadb_engine, job_id)) == 1
