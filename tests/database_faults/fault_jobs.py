"""Job types for the database fault tests (loaded by the stack through ``JOB_MODULES``).

``count`` records each of its executions in the ``executions`` table of the database at
EXECUTIONS_URL (reached directly, not through the tests' proxy), so that a test counts what
ran, not what the queue says ran. ``hold`` keeps its job for a while; ``clock`` answers the
process's own wall clock, so that a test can see the skew it gave the process.
"""

from __future__ import annotations

import os
import time
from functools import cache

from sqlalchemy import BigInteger, Column, Double, Engine, Integer, MetaData, String, Table, insert

from common.db import make_engine
from common.handlers import Job, JobContext, Registry

executions_metadata = MetaData()
executions = Table(
    "executions",
    executions_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", BigInteger, nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("pid", String(32), nullable=False),
    Column("at", Double, nullable=False),  # the wall clock when it ended
)


@cache
def _executions_engine() -> Engine:
    return make_engine(os.environ["EXECUTIONS_URL"])


def count(job: Job, ctx: JobContext) -> None:
    """Sleep the payload's ``seconds``, then record this execution."""
    time.sleep(float(job.payload.get("seconds", 0)))
    with _executions_engine().begin() as conn:
        row = {"job_id": job.id, "attempt": job.attempt, "pid": str(os.getpid()), "at": time.time()}
        conn.execute(insert(executions).values(**row))


def hold(job: Job, ctx: JobContext) -> None:
    """Keep the job the payload's ``seconds``."""
    time.sleep(float(job.payload.get("seconds", 1)))


def _held_seconds(payload: dict[str, float]) -> float:
    return float(payload.get("seconds", 1))


def clock(job: Job, ctx: JobContext) -> dict[str, float]:
    """The process's wall clock, as seconds since the epoch."""
    return {"time": time.time()}


def register(registry: Registry) -> None:
    """Called by build_registry for every module named in JOB_MODULES."""
    registry.job_type("count", timeout_seconds=10, max_attempts=50)(count)
    registry.job_type("hold", timeout_seconds=30, expected_seconds=_held_seconds)(hold)
    registry.job_type("clock", timeout_seconds=5)(clock)
