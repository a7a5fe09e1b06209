"""A user's own job type, as a JOB_MODULES module declares it: the test of the handler API."""

from __future__ import annotations

import pydantic

from common.errors import PermanentJobError
from common.handlers import Job, JobContext, Registry


class GreetPayload(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=1)
    times: int = pydantic.Field(default=1, ge=1, le=3)


def register(registry: Registry) -> None:
    """Called by build_registry for every module named in JOB_MODULES."""

    @registry.job_type(
        "greet", payload=GreetPayload, timeout_seconds=5, queue="chores", priority=3, max_attempts=2
    )
    def greet(job: Job, ctx: JobContext) -> dict[str, str]:
        if job.payload.name == "nobody":
            raise PermanentJobError("nobody to greet")
        ctx.logger.info("greeting %s", job.payload.name)
        return {"greeting": " ".join([f"Hello {job.payload.name}!"] * job.payload.times)}
