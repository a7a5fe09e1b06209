"""JOB_MODULES for end-to-end tests: a job type that counts its own executions.

Each execution writes a row of ``executions`` (made by the test) in its own transaction, on
the stack's DATABASE_URL, before it succeeds or fails as its payload asks: what ran is known
whatever the queue recorded.
"""

from __future__ import annotations

import os
import socket
from functools import cache

import pydantic
from sqlalchemy import Engine, text

from common.db import make_engine
from common.errors import JobError
from common.handlers.registry import Job, JobContext, Registry

EXECUTIONS = """CREATE TABLE executions (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    job_id BIGINT NOT NULL,
    attempt INT NOT NULL,
    worker VARCHAR(64) NOT NULL
)"""


class CountedPayload(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    fail_times: int = 0  # its first attempts that fail
    tag: str = ""


@cache
def _engine() -> Engine:
    # A connection for every thread of every tick of the process: none waits for another's.
    return make_engine(os.environ["DATABASE_URL"], pool_size=64)


def counted(job: Job, ctx: JobContext) -> None:
    with _engine().begin() as conn:
        conn.execute(
            text("INSERT INTO executions (job_id, attempt, worker) VALUES (:j, :a, :w)"),
            {"j": job.id, "a": job.attempt, "w": f"{socket.gethostname()}:{os.getpid()}"},
        )
    if job.attempt <= job.payload.fail_times:
        raise JobError(f"attempt {job.attempt} fails, as asked")


def register(registry: Registry) -> None:
    registry.job_type("counted", payload=CountedPayload, timeout_seconds=5, max_attempts=5)(counted)
