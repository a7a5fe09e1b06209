"""The load test's job types, loaded by the stack with JOB_MODULES=tests.load.load_jobs: each
execution writes a row of its own to ``load_executions`` (its own transaction), so the test
counts how often every job ran."""

from __future__ import annotations

import os
from functools import cache

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, Table, insert

from common.db import make_engine
from common.handlers.registry import Job, JobContext, Registry

metadata = MetaData()
executions = Table(
    "load_executions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", BigInteger, nullable=False),  # no UNIQUE: a duplicate must show, not fail
    Column("attempt", Integer, nullable=False),
)


@cache
def _engine() -> Engine:
    return make_engine(os.environ["DATABASE_URL"])


def _record(job: Job) -> None:
    with _engine().begin() as conn:
        conn.execute(insert(executions).values(job_id=job.id, attempt=job.attempt))


def record(job: Job, ctx: JobContext) -> None:
    _record(job)


def doomed(job: Job, ctx: JobContext) -> None:
    """Meant for the DLQ: one attempt, which fails."""
    _record(job)
    raise RuntimeError("meant for the DLQ")


def register(registry: Registry) -> None:
    registry.job_type("record", timeout_seconds=10)(record)
    registry.job_type("doomed", timeout_seconds=10, max_attempts=1)(doomed)
