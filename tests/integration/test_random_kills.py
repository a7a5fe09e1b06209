"""Worker processes SIGKILLed at random moments of a drain lose nothing and run nothing twice
outside the attempt a kill cut.

Four processes run worker ticks (concurrent execution on) over thousands of short jobs; the
test SIGKILLs one of them at random moments and starts a replacement, while it runs the
schedule step's recovery as the cron would. Each job counts its own executions in a table of
its own (a row when it starts, marked when it ends), in its own transaction, so the count
does not depend on what the queue recorded.

SKIPLOCK_KILL_JOBS and SKIPLOCK_KILLS make a longer run (docs/RELIABILITY.md).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from multiprocessing.process import BaseProcess

import pytest
from sqlalchemy import Engine, func, select, text

from common.db import make_engine
from common.enqueue import NewJob, enqueue_many
from common.handlers.registry import Job, JobContext, Registry
from common.models import job_attempts, jobs
from common.schedule import promote_due, recover_expired
from common.worker import TickOptions, work_tick

JOBS = int(os.environ.get("SKIPLOCK_KILL_JOBS", "5000"))
KILLS = int(os.environ.get("SKIPLOCK_KILLS", "20"))
WORKERS = 4
LEASE_SECONDS = 2.0
DRAIN_LIMIT_SECONDS = 150.0
EXECUTIONS = """CREATE TABLE executions (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    job_id BIGINT NOT NULL,
    attempt INT NOT NULL,
    worker VARCHAR(64) NOT NULL,
    ended BOOLEAN NOT NULL DEFAULT FALSE
)"""


@cache
def _own_engine(url: str) -> Engine:
    return make_engine(url)


def counting_registry(url: str, worker: str) -> Registry:
    """One job type: it writes its start, works a few milliseconds, writes its end."""
    registry = Registry(default_max_attempts=20)  # a job may be cut by several kills

    @registry.job_type("counted", timeout_seconds=10, expected_seconds=0.01)
    def counted(job: Job, ctx: JobContext) -> None:
        with _own_engine(url).begin() as conn:
            execution = conn.execute(
                text("INSERT INTO executions (job_id, attempt, worker) VALUES (:j, :a, :w)"),
                {"j": job.id, "a": job.attempt, "w": worker},
            ).lastrowid
        time.sleep(random.uniform(0, 0.02))
        with _own_engine(url).begin() as conn:
            conn.execute(text("UPDATE executions SET ended = TRUE WHERE id = :i"), {"i": execution})

    return registry


def drain(url: str, worker: str) -> None:
    """A worker process: tick after tick until killed."""
    engine, registry = make_engine(url), counting_registry(url, worker)
    options = TickOptions(
        worker_id=worker,
        budget_seconds=5,
        batch_size=10,
        concurrency=4,
        lease_seconds=LEASE_SECONDS,
        poll_seconds=0.05,
    )
    while True:
        work_tick(engine, registry, options)


@dataclass
class Drain:
    url: str
    context: multiprocessing.context.SpawnContext = field(
        default_factory=lambda: multiprocessing.get_context("spawn")
    )
    processes: dict[str, BaseProcess] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)
    started = 0

    def start_one(self) -> None:
        self.started += 1
        worker = f"w{self.started}"
        process = self.context.Process(target=drain, args=(self.url, worker), daemon=True)
        process.start()
        self.processes[worker] = process

    def kill_one(self, engine: Engine) -> None:
        """SIGKILL a worker that holds jobs (a replacement still starting holds none), or any
        worker if none holds jobs within a second."""
        deadline = time.monotonic() + 1.0
        while not (holding := holders(engine) & set(self.processes)):
            if time.monotonic() > deadline:
                holding = set(self.processes)
                break
            time.sleep(0.01)
        worker = random.choice(sorted(holding))
        process = self.processes.pop(worker)
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        self.killed.append(worker)

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.join()


@pytest.fixture
def executions(mariadb_engine: Engine) -> Iterator[None]:
    with mariadb_engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS executions"))
        conn.execute(text(EXECUTIONS))
    yield
    with mariadb_engine.begin() as conn:
        conn.execute(text("DROP TABLE executions"))


def holders(engine: Engine) -> set[str]:
    """The workers holding RUNNING jobs."""
    with engine.connect() as conn:
        query = select(jobs.c.locked_by).where(jobs.c.status == "RUNNING").distinct()
        return {worker for worker in conn.execute(query).scalars() if worker}


def overdue_running(engine: Engine, slack_seconds: float) -> int:
    """RUNNING jobs whose lease ended more than ``slack_seconds`` ago."""
    with engine.connect() as conn:
        now = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        query = select(func.count()).where(
            jobs.c.status == "RUNNING",
            jobs.c.locked_until < now - timedelta(seconds=slack_seconds),
        )
        return int(conn.execute(query).scalar_one())


def recover(engine: Engine) -> None:
    """The schedule step's part that matters here, as the cron would run it."""
    recover_expired(engine)
    promote_due(engine)


def unfinished(engine: Engine) -> int:
    with engine.connect() as conn:
        query = select(func.count()).where(jobs.c.status != "SUCCESS")
        return int(conn.execute(query).scalar_one())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_workers_killed_at_random_moments_lose_nothing_and_repeat_only_cut_attempts(
    mariadb_engine: Engine, executions: None
) -> None:
    url = mariadb_engine.url.render_as_string(hide_password=False)
    registry = counting_registry(url, "submitter")
    with mariadb_engine.begin() as conn:
        for start in range(0, JOBS, 1000):
            batch = [NewJob(type="counted", payload={"n": n}) for n in range(start, start + 1000)]
            enqueue_many(conn, batch[: JOBS - start], registry=registry)
    promote_due(mariadb_engine, limit=JOBS)
    run = Drain(url)
    for _ in range(WORKERS):
        run.start_one()
    began = time.monotonic()
    overdue = 0
    try:
        while len(run.killed) < KILLS:
            # Kills spread over the drain: the next one once enough jobs are done, at random.
            due = JOBS * (len(run.killed) + random.uniform(0.3, 1.0)) / (KILLS + 1)
            while JOBS - unfinished(mariadb_engine) < due:
                assert time.monotonic() - began < DRAIN_LIMIT_SECONDS, "the drain did not end"
                recover(mariadb_engine)
                overdue = max(overdue, overdue_running(mariadb_engine, slack_seconds=1.0))
                time.sleep(0.05)
            run.kill_one(mariadb_engine)
            run.start_one()
        while unfinished(mariadb_engine):
            assert time.monotonic() - began < DRAIN_LIMIT_SECONDS, "the drain did not end"
            recover(mariadb_engine)
            overdue = max(overdue, overdue_running(mariadb_engine, slack_seconds=1.0))
            time.sleep(0.2)
    finally:
        run.stop()
    drained_in = time.monotonic() - began
    report = Report.of(mariadb_engine, run.killed)
    print(f"\n{report.summary(drained_in)}")
    assert len(run.killed) == KILLS
    assert overdue == 0, "a job stayed RUNNING past its lease (and the recovery after it)"
    assert report.statuses == {"SUCCESS": JOBS}
    assert len(report.successes) == JOBS and set(report.successes.values()) == {1}
    assert report.repeated_outside_kills == [], "ran again though no kill cut its attempt"
    assert report.cut_without_lost_attempt == [], "a cut attempt missing from the history"
    assert report.cut, "the kills cut no attempt: kill harder"


@dataclass
class Report:
    """What the executions table and the attempt history say after the drain."""

    statuses: dict[str, int]
    successes: Counter[int]  # successful attempts recorded, by job
    cut: list[
        tuple[int, int, str, bool]
    ]  # executions no success records: (job, attempt, by, ended)
    repeated_outside_kills: list[tuple[int, int, str]]
    cut_without_lost_attempt: list[tuple[int, int, str]]
    lost_attempts: int
    held_unstarted: int  # lost attempts that never began: claimed, not yet started

    @classmethod
    def of(cls, engine: Engine, killed: list[str]) -> Report:
        with engine.connect() as conn:
            statuses = dict(
                conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)).all()
            )
            attempts = conn.execute(
                select(
                    job_attempts.c.job_id,
                    job_attempts.c.attempt,
                    job_attempts.c.worker_id,
                    job_attempts.c.outcome,
                )
            ).all()
            runs = conn.execute(text("SELECT job_id, attempt, worker, ended FROM executions"))
            executions = [(r.job_id, r.attempt, r.worker, bool(r.ended)) for r in runs]
        succeeded = {(a.job_id, a.attempt, a.worker_id) for a in attempts if a.outcome == "success"}
        lost = {(a.job_id, a.attempt, a.worker_id) for a in attempts if a.outcome != "success"}
        cut = [e for e in executions if e[:3] not in succeeded]
        ran = {e[:3] for e in executions}
        return cls(
            statuses=statuses,
            successes=Counter(a.job_id for a in attempts if a.outcome == "success"),
            cut=cut,
            repeated_outside_kills=[e[:3] for e in cut if e[2] not in killed],
            cut_without_lost_attempt=[e[:3] for e in cut if e[:3] not in lost],
            lost_attempts=len(lost),
            held_unstarted=len(lost - ran),
        )

    def summary(self, drained_in: float) -> str:
        mid_job = sum(1 for *_, ended in self.cut if not ended)
        return (
            f"{sum(self.statuses.values())} jobs drained in {drained_in:.1f} s; "
            f"{len(self.cut)} executions cut by kills ({mid_job} mid-job, "
            f"{len(self.cut) - mid_job} mid-finish: ended, not yet recorded); "
            f"{self.lost_attempts} lost attempts in the history "
            f"({self.held_unstarted} of jobs claimed, not yet started); "
            f"{len(self.repeated_outside_kills)} repeated outside kills; "
            f"{len(self.cut_without_lost_attempt)} cut attempts missing from the history"
        )
