"""Deadlocks and lock waits: worker ticks, single and bulk submissions, the schedule step and
an operator's retries and cancels, all at once in real processes on MariaDB, for a bounded
time (SKIPLOCK_STRESS_SECONDS, 60 by default). No deadlock or lock wait timeout may reach
any caller; those that happened inside were retried, and are counted (common.db.RETRIED)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import time
import traceback
from collections import Counter
from collections.abc import Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import pytest
from sqlalchemy import Engine, select

from common import db
from common.db import make_engine, transaction
from common.enqueue import NewJob, enqueue, enqueue_many
from common.errors import SkiplockError
from common.handlers.registry import Job, JobContext, Registry
from common.maintenance import JobFilter, cancel_jobs, retry_jobs
from common.models import jobs
from common.schedule import schedule_tick
from common.states import Status
from common.worker import TickOptions, work_tick
from tests.factories import statuses

S = Status
SECONDS = float(os.environ.get("SKIPLOCK_STRESS_SECONDS", "60"))
TICKS = 8
QUEUES = ("a", "b", "c")


def succeed(job: Job, ctx: JobContext) -> None:
    time.sleep(random.uniform(0, 0.005))


def fail(job: Job, ctx: JobContext) -> None:
    raise RuntimeError("fails on purpose")


def registry() -> Registry:
    jobs_registry = Registry()
    jobs_registry.job_type("ok", timeout_seconds=5)(succeed)
    jobs_registry.job_type("doomed", timeout_seconds=5, max_attempts=1)(fail)
    return jobs_registry


def new_job() -> NewJob:
    return NewJob(
        type=random.choice(["ok"] * 9 + ["doomed"]),
        queue=random.choice(QUEUES),
        priority=random.randint(0, 3),
    )


def tick(engine: Engine, name: str) -> None:
    options = TickOptions(name, 2, batch_size=random.randint(1, 10), stop_when_idle=True)
    if work_tick(engine, registry(), options).claimed == 0:
        time.sleep(0.01)


def submit_one(engine: Engine, name: str) -> None:
    with transaction(engine) as conn:  # as POST /jobs does
        enqueue(conn, new_job(), registry=registry())


def submit_bulk(engine: Engine, name: str) -> None:
    with transaction(engine) as conn:  # as POST /jobs/bulk does
        enqueue_many(conn, [new_job() for _ in range(random.randint(2, 50))], registry=registry())


def schedule(engine: Engine, name: str) -> None:
    schedule_tick(engine, budget_seconds=1, retention_seconds=2, batch=random.randint(5, 100))
    time.sleep(0.05)


def operate(engine: Engine, name: str) -> None:
    """What an operator does from the dashboard or the API, at random."""
    queue, batch = random.choice(QUEUES), random.randint(2, 50)
    action = random.randrange(4)
    if action == 0:
        retry_jobs(engine, where=JobFilter(status=S.DLQ), batch=batch)
    elif action == 1:
        cancel_jobs(engine, where=JobFilter(queue=queue, status=S.SCHEDULED), batch=batch)
    else:
        with engine.connect() as conn:
            recent = conn.execute(select(jobs.c.id).order_by(jobs.c.id.desc()).limit(batch))
            ids = list(recent.scalars())
        with contextlib.suppress(SkiplockError):  # a 4xx: none of these could be moved
            (retry_jobs if action == 2 else cancel_jobs)(engine, ids=ids, batch=batch)
    time.sleep(0.05)


ROLES: dict[str, Callable[[Engine, str], None]] = {
    **{f"tick-{n}": tick for n in range(TICKS)},
    "submit-one": submit_one,
    "submit-bulk": submit_bulk,
    "schedule": schedule,
    "operator": operate,
}


def run_role(url: str, name: str, go: Event, report: Queue[Any]) -> None:
    """One process: its role's call over and over until the time is up; what reached it."""
    engine = make_engine(url)
    errors: list[str] = []
    calls = 0
    go.wait(timeout=120)
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        try:
            ROLES[name](engine, name)
        except Exception:
            errors.append(traceback.format_exc(limit=3))
        calls += 1
    report.put((name, {"calls": calls, "errors": errors, "retried": dict(db.RETRIED)}))
    engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 240)
def test_no_deadlock_or_lock_wait_reaches_a_caller(mariadb_engine: Engine) -> None:
    url = mariadb_engine.url.render_as_string(hide_password=False)
    spawn = multiprocessing.get_context("spawn")
    go, report = spawn.Event(), spawn.Queue()
    processes = [spawn.Process(target=run_role, args=(url, name, go, report)) for name in ROLES]
    for process in processes:
        process.start()
    try:
        go.set()
        reports = dict(report.get(timeout=SECONDS + 120) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()

    retried: Counter[str] = Counter()
    for outcome in reports.values():
        retried.update(outcome["retried"])
    calls = {name: outcome["calls"] for name, outcome in reports.items()}
    print(f"\nlock stress {SECONDS:.0f} s: calls {calls}, retried inside {dict(retried)}")
    print(f"jobs by status: {Counter(statuses(mariadb_engine).values())}")
    errors = {name: outcome["errors"] for name, outcome in reports.items() if outcome["errors"]}
    assert errors == {}
    assert all(count > 0 for count in calls.values()), calls
