"""Queue controls hold across concurrent worker processes on MariaDB.

Each worker process (spawned: it shares nothing with this one) runs real worker ticks back to
back until told to stop. The handler writes its job's id into a table with a UNIQUE key, so a
job run twice would fail there. The limits are checked twice: by a separate connection that
samples the RUNNING jobs all along, and afterwards from the attempts' own start and end times.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from common.db import make_engine
from common.enqueue import NewJob, enqueue_many
from common.handlers.registry import Job, JobContext, Registry
from common.models import job_attempts, jobs
from common.queue_controls import QueueControls, RateLimit, set_controls
from common.schedule import promote_due
from common.states import Status
from common.worker import TickOptions, work_tick
from tests.integration.test_concurrency import executions, executions_metadata

TYPE = "wait"


def waiting(record: Callable[[Job], None] | None = None) -> Registry:
    registry = Registry()

    @registry.job_type(TYPE, timeout_seconds=5, expected_seconds=0.05)
    def wait(job: Job, ctx: JobContext) -> None:
        time.sleep(job.payload.get("seconds", 0))
        if record is not None:
            record(job)

    return registry


def tick_until_stopped(
    url: str, worker_id: str, go: Event, stop: Event, report: Queue[Any]
) -> None:
    """A worker process: idle-stopping ticks back to back until ``stop``; then its summary."""
    engine = make_engine(url)

    def record(job: Job) -> None:
        with engine.begin() as conn:
            conn.execute(insert(executions).values(job_id=job.id, worker_id=worker_id))

    registry = waiting(record)
    options = TickOptions(worker_id, budget_seconds=30, batch_size=5, stop_when_idle=True)
    go.wait(timeout=60)
    claimed = 0
    try:
        while not stop.is_set():
            summary = work_tick(engine, registry, options)
            claimed += summary.claimed
            if summary.claimed == 0:
                time.sleep(0.005)
        report.put((worker_id, claimed))
    except BaseException:
        report.put((worker_id, traceback.format_exc()))
        raise
    finally:
        engine.dispose()


class Workers:
    """``count`` worker processes, started together, stopped by ``stop()``."""

    def __init__(self, engine: Engine, count: int) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.go, self.halt, self.report = spawn.Event(), spawn.Event(), spawn.Queue()
        url = engine.url.render_as_string(hide_password=False)
        self.processes = [
            spawn.Process(
                target=tick_until_stopped, args=(url, f"w{n}", self.go, self.halt, self.report)
            )
            for n in range(count)
        ]
        for process in self.processes:
            process.start()
        self.go.set()

    def stop(self) -> dict[str, Any]:
        self.halt.set()
        reports = dict(self.report.get(timeout=60) for _ in self.processes)
        for process in self.processes:
            process.join(timeout=30)
        assert [p.exitcode for p in self.processes] == [0] * len(self.processes), reports
        return reports


class RunningSampler:
    """A connection of its own, counting the queue's RUNNING jobs (by key) as fast as it can."""

    def __init__(self, engine: Engine, queue: str) -> None:
        self.engine, self.queue = engine, queue
        self.most, self.most_per_key, self.samples = 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        by_key = (
            select(jobs.c.concurrency_key, func.count())
            .where(jobs.c.status == Status.RUNNING, jobs.c.queue == self.queue)
            .group_by(jobs.c.concurrency_key)
        )
        with self.engine.connect() as conn:
            while not self._stop.is_set():
                counts = dict(conn.execute(by_key).all())
                conn.rollback()  # a fresh snapshot each time
                self.most = max(self.most, sum(counts.values()))
                keyed = [n for key, n in counts.items() if key is not None]
                self.most_per_key = max([self.most_per_key, *keyed])
                self.samples += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def tables(mariadb_engine: Engine) -> Iterator[Engine]:
    executions_metadata.drop_all(mariadb_engine)
    executions_metadata.create_all(mariadb_engine)
    yield mariadb_engine
    executions_metadata.drop_all(mariadb_engine)


def add_jobs(engine: Engine, queue: str, count: int, seconds: float, keys: int = 0) -> None:
    new = [
        NewJob(
            TYPE,
            {"seconds": seconds},
            queue=queue,
            concurrency_key=f"key-{n % keys}" if keys else None,
        )
        for n in range(count)
    ]
    with engine.begin() as conn:
        enqueue_many(conn, new, registry=waiting())
    promote_due(engine, limit=count)


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def done(engine: Engine, queue: str, status: Status = Status.SUCCESS) -> int:
    with engine.connect() as conn:
        query = select(func.count()).where(jobs.c.queue == queue, jobs.c.status == status)
        return int(conn.execute(query).scalar_one())


def attempt_times(engine: Engine, queue: str) -> list[tuple[datetime, datetime, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(job_attempts.c.started_at, job_attempts.c.ended_at, jobs.c.concurrency_key)
            .join(jobs, jobs.c.id == job_attempts.c.job_id)
            .where(jobs.c.queue == queue)
        )
        return [(start, end, key) for start, end, key in rows]


def most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    """The largest number of intervals open at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = most = 0
    for _, step in edges:  # at a tie an end (-1) sorts first: touching intervals do not overlap
        open_now += step
        most = max(most, open_now)
    return most


def executed_once_each(engine: Engine, expected: int) -> None:
    with engine.connect() as conn:
        counted = conn.execute(select(func.count(), func.count(executions.c.job_id.distinct())))
        assert tuple(counted.one()) == (expected, expected)


@pytest.mark.slow
def test_eight_ticks_never_run_more_than_max_running_of_a_queue(tables: Engine) -> None:
    """Two limited queues, so that the claims lock two queue rows (in name order: no deadlock)."""
    set_controls(tables, "limited", QueueControls(max_running=3), changed_by="test")
    set_controls(tables, "other", QueueControls(max_running=2), changed_by="test")
    add_jobs(tables, "limited", 60, seconds=0.05)
    add_jobs(tables, "other", 30, seconds=0.05)
    sampler = RunningSampler(tables, "limited")
    workers = Workers(tables, 8)
    try:
        wait_for(lambda: done(tables, "limited") + done(tables, "other") == 90, timeout=120)
    finally:
        reports = workers.stop()
        sampler.stop()

    overlap = {
        queue: most_at_once([(start, end) for start, end, _ in attempt_times(tables, queue)])
        for queue in ("limited", "other")
    }
    print(
        f"max_running=3: sampled at most {sampler.most} RUNNING over {sampler.samples} samples;"
        f" attempts overlapped at most {overlap} (limits 3 and 2); claims per tick {reports}"
    )
    assert sampler.most == 3  # reached, never passed
    assert 2 <= overlap["limited"] <= 3 and overlap["other"] <= 2
    executed_once_each(tables, 90)


@pytest.mark.slow
def test_a_per_key_limit_of_one_runs_the_keys_side_by_side_never_two_of_a_key(
    tables: Engine,
) -> None:
    set_controls(tables, "tenants", QueueControls(max_running_per_key=1), changed_by="test")
    add_jobs(tables, "tenants", 50, seconds=0.05, keys=5)
    sampler = RunningSampler(tables, "tenants")
    workers = Workers(tables, 8)
    try:
        wait_for(lambda: done(tables, "tenants") == 50, timeout=120)
    finally:
        workers.stop()
        sampler.stop()

    attempts = attempt_times(tables, "tenants")
    per_key = {
        key: most_at_once([(s, e) for s, e, k in attempts if k == key])
        for key in {k for _, _, k in attempts}
    }
    overall = most_at_once([(s, e) for s, e, _ in attempts])
    print(
        f"per key 1 over 5 keys: overlap per key {per_key}, all keys {overall};"
        f" sampled at most {sampler.most_per_key} of a key, {sampler.most} in all"
    )
    assert sampler.most_per_key == 1
    assert set(per_key.values()) == {1}
    assert overall >= 3  # the keys progress in parallel
    executed_once_each(tables, 50)


@pytest.mark.slow
def test_a_rate_limit_of_20_per_second_starts_20_a_second_plus_the_burst(
    tables: Engine,
) -> None:
    rate = RateLimit(per_second=20, burst=5)
    set_controls(tables, "sms", QueueControls(rate_limit=rate), changed_by="test")
    add_jobs(tables, "sms", 400, seconds=0)
    workers = Workers(tables, 4)
    try:
        wait_for(lambda: done(tables, "sms", Status.SCHEDULED) < 400, timeout=60)
        time.sleep(10)  # of ticks, from the first claim on
    finally:
        workers.stop()

    starts = sorted(start for start, _, _ in attempt_times(tables, "sms"))
    window = (starts[-1] - starts[0]).total_seconds()
    allowed = rate.burst + rate.per_second * window
    print(f"rate 20/s, burst 5: {len(starts)} starts in {window:.2f} s (at most {allowed:.0f})")
    # long enough to measure a rate; its end depends on how fast the workers stop on a
    # loaded machine, which the count below accounts for since it is judged by the window
    assert window >= 9
    # a claim takes its tokens a moment before its jobs start: one token of slack
    assert rate.per_second * window - rate.burst <= len(starts) <= allowed + 1
    assert done(tables, "sms", Status.SCHEDULED) == 400 - len(starts)  # held back, untouched


@pytest.mark.slow
def test_a_pause_mid_drain_stops_new_starts_lets_running_jobs_finish_and_resume_drains(
    tables: Engine,
) -> None:
    add_jobs(tables, "p", 300, seconds=0.02)
    workers = Workers(tables, 4)
    try:
        wait_for(lambda: done(tables, "p") >= 60, timeout=120)
        set_controls(tables, "p", QueueControls(paused=True), changed_by="test")
        with tables.connect() as conn:
            paused_at = conn.execute(select(func.utc_timestamp(6))).scalar_one()
        time.sleep(1.5)
        finished_while_paused = done(tables, "p")
        running_while_paused = done(tables, "p", Status.RUNNING)
        late = [
            s for s, _, _ in attempt_times(tables, "p") if (s - paused_at).total_seconds() > 0.3
        ]
        time.sleep(0.5)
        still_paused = done(tables, "p")

        set_controls(tables, "p", QueueControls(paused=False), changed_by="test")
        wait_for(lambda: done(tables, "p") == 300, timeout=120)
    finally:
        workers.stop()

    print(f"pause: {finished_while_paused} done when paused; {len(late)} started later")
    assert late == []
    assert running_while_paused == 0  # what ran when the pause came has finished
    assert still_paused == finished_while_paused < 300
    executed_once_each(tables, 300)
