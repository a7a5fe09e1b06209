"""Worker processes racing on MariaDB run every job exactly once.

Each of the worker processes (started with 'spawn', so they share nothing with this one) runs
the real worker tick. The handler writes its job's id into a table with a UNIQUE key, in its own
transaction, so a job executed twice would fail there and end up FAILED instead of SUCCESS.
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from collections import Counter
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
)

from common.db import make_engine
from common.enqueue import NewJob, enqueue_many
from common.handlers.registry import Handler, Job, JobContext, Registry
from common.schedule import promote_due
from common.states import Status
from common.worker import TickOptions, TickSummary, work_tick
from tests.factories import statuses

JOBS = 5000
WORKERS = 4
# Ticks stop when the queue is empty; the budget only bounds a run on a very busy machine, where
# a tick cut at its budget would re-run the attempts it cut (the crash promise, not exactly-once).
BUDGET_SECONDS = 150

executions_metadata = MetaData()
executions = Table(
    "executions",
    executions_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", BigInteger, nullable=False),
    Column("worker_id", String(64), nullable=False),
    UniqueConstraint("job_id", name="uq_executions_job_id"),
)


def recording(handler: Handler) -> Registry:
    """The registry with the one job type these tests run, ``record``."""
    registry = Registry()
    registry.job_type("record", timeout_seconds=5)(handler)
    return registry


JOB_TYPES = recording(lambda job, ctx: None)  # what the enqueueing side needs to know


def drain(
    url: str,
    worker_id: str,
    ready: Queue[Any],
    go: Event,
    report: Queue[Any],
    produced: Event | None = None,
) -> None:
    """A worker process: ticks until the queue is empty, then its summary or traceback.

    Without ``produced`` it is one tick. With it, the worker keeps ticking while the producer
    enqueues (promoting and claiming what arrives), then drains what is left. Each tick stops
    when idle rather than at a budget, which would cut the attempts running at its end: their
    jobs would run again, as promised after a crash, but this test counts exactly once.
    """
    engine = make_engine(url)

    def record(job: Job, ctx: JobContext) -> None:
        with engine.begin() as conn:
            conn.execute(insert(executions).values(job_id=job.id, worker_id=worker_id))

    registry = recording(record)

    ready.put(worker_id)
    go.wait(timeout=60)
    try:
        options = TickOptions(worker_id, BUDGET_SECONDS, batch_size=10, stop_when_idle=True)
        ticks = []
        while produced is not None and not produced.is_set():
            ticks.append(work_tick(engine, registry, options))
            if ticks[-1].claimed == 0:
                time.sleep(0.01)  # nothing has arrived yet
        ticks.append(work_tick(engine, registry, options))
        report.put((worker_id, total(ticks)))
    except BaseException:
        report.put((worker_id, traceback.format_exc()))
        raise
    finally:
        engine.dispose()


def total(ticks: list[TickSummary]) -> dict[str, int]:
    """The ticks' summaries added up, field by field."""
    sums: Counter[str] = Counter()
    for tick in ticks:
        sums.update(tick.as_dict())
    return {name: sums[name] for name in TickSummary().as_dict()}


@pytest.fixture
def executions_table(mariadb_engine: Engine) -> Any:
    executions_metadata.drop_all(mariadb_engine)
    executions_metadata.create_all(mariadb_engine)
    yield executions
    executions_metadata.drop_all(mariadb_engine)


@pytest.mark.slow
def test_worker_processes_run_each_of_5000_jobs_exactly_once(
    mariadb_engine: Engine, executions_table: Table
) -> None:
    with mariadb_engine.begin() as conn:
        enqueue_many(
            conn, [NewJob(type="record", payload={"n": n}) for n in range(JOBS)], registry=JOB_TYPES
        )
    assert promote_due(mariadb_engine, limit=JOBS) == JOBS

    spawn = multiprocessing.get_context("spawn")
    ready, report, go = spawn.Queue(), spawn.Queue(), spawn.Event()
    url = mariadb_engine.url.render_as_string(hide_password=False)
    workers = [
        spawn.Process(target=drain, args=(url, f"worker-{n}", ready, go, report))
        for n in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            ready.get(timeout=60)
        go.set()  # all at once, so that they really race
        reports = dict(report.get(timeout=BUDGET_SECONDS + 30) for _ in workers)
    finally:
        for worker in workers:
            worker.join(timeout=30)

    assert [worker.exitcode for worker in workers] == [0] * WORKERS
    failures = {w: r for w, r in reports.items() if not isinstance(r, dict)}
    assert failures == {}
    summaries = {w: TickSummary(**r) for w, r in reports.items()}
    assert sum(s.succeeded for s in summaries.values()) == JOBS
    assert all(s.succeeded > 0 for s in summaries.values()), summaries  # they all took part
    assert all((s.failed, s.dead_lettered, s.lease_lost) == (0, 0, 0) for s in summaries.values())

    with mariadb_engine.connect() as conn:
        executed = conn.execute(select(func.count(), func.count(executions.c.job_id.distinct())))
        assert tuple(executed.one()) == (JOBS, JOBS)
    assert set(statuses(mariadb_engine).values()) == {Status.SUCCESS}
    assert len(statuses(mariadb_engine)) == JOBS


def produce(url: str, go: Event, produced: Event, batches: int, per_batch: int) -> None:
    """A producer process: enqueues CREATED jobs in many small transactions while workers run."""
    engine = make_engine(url)
    go.wait(timeout=60)
    for b in range(batches):
        with engine.begin() as conn:
            enqueue_many(
                conn,
                [NewJob(type="record", payload={"b": b, "n": n}) for n in range(per_batch)],
                registry=JOB_TYPES,
            )
    produced.set()
    engine.dispose()


@pytest.mark.slow
def test_workers_promote_and_claim_jobs_arriving_while_they_run_each_exactly_once(
    mariadb_engine: Engine, executions_table: Table
) -> None:
    """No pre-scheduling: jobs arrive CREATED during the run, and the idle workers promote them
    concurrently with the others' claims (the promote and claim locks race)."""
    batches, per_batch = 100, 50
    spawn = multiprocessing.get_context("spawn")
    ready, report, go, produced = spawn.Queue(), spawn.Queue(), spawn.Event(), spawn.Event()
    url = mariadb_engine.url.render_as_string(hide_password=False)
    workers = [
        spawn.Process(target=drain, args=(url, f"worker-{n}", ready, go, report, produced))
        for n in range(WORKERS)
    ]
    producer = spawn.Process(target=produce, args=(url, go, produced, batches, per_batch))
    for process in [*workers, producer]:
        process.start()
    try:
        for _ in workers:
            ready.get(timeout=60)
        go.set()
        reports = dict(report.get(timeout=BUDGET_SECONDS + 120) for _ in workers)
    finally:
        for process in [*workers, producer]:
            process.join(timeout=30)

    assert [p.exitcode for p in [*workers, producer]] == [0] * (WORKERS + 1), reports
    summaries = {w: TickSummary(**r) for w, r in reports.items()}
    assert sum(s.succeeded for s in summaries.values()) == batches * per_batch
    assert sum(s.promoted for s in summaries.values()) == batches * per_batch
    with mariadb_engine.connect() as conn:
        executed = conn.execute(select(func.count(), func.count(executions.c.job_id.distinct())))
        assert tuple(executed.one()) == (batches * per_batch, batches * per_batch)
    assert set(statuses(mariadb_engine).values()) == {Status.SUCCESS}
