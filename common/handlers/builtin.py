"""Job types for trying the system out: noop, sleep and fail."""

from __future__ import annotations

import pydantic

from common.errors import JobError
from common.handlers.registry import Job, JobContext, Registry


class SleepPayload(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    seconds: float = pydantic.Field(ge=0, le=25)


class FailPayload(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    times: int = pydantic.Field(default=1_000_000, ge=0)
    message: str = "failed on purpose"


def noop(job: Job, ctx: JobContext) -> None:
    """Does nothing: for measuring the queue itself."""


def sleep(job: Job, ctx: JobContext) -> dict[str, float]:
    """Sleeps ``seconds``, or until its deadline, whichever comes first (or until given up on,
    when what it returns no longer counts)."""
    seconds = min(job.payload.seconds, ctx.remaining_seconds())
    ctx.cancelled.wait(seconds)
    return {"slept": seconds}


def fail(job: Job, ctx: JobContext) -> dict[str, int]:
    """Fails its first ``times`` attempts with ``message``, then succeeds."""
    if job.attempt <= job.payload.times:
        raise JobError(job.payload.message)
    return {"succeeded_on_attempt": job.attempt}


def _asked_to_sleep(payload: SleepPayload) -> float:
    return payload.seconds


def register_builtins(registry: Registry) -> None:
    registry.job_type("noop", timeout_seconds=1)(noop)
    registry.job_type(
        "sleep", payload=SleepPayload, timeout_seconds=30, expected_seconds=_asked_to_sleep
    )(sleep)
    registry.job_type("fail", payload=FailPayload, timeout_seconds=1)(fail)
