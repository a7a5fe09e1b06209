"""A user's own job types, as a JOB_MODULES module declares them: the test of the handler API,
and the example of a deployer's module (packaged with its requirements file,
custom_jobs-requirements.txt: `python -m infra.package --include tests/unit/handlers/custom_jobs.py
--requirements tests/unit/handlers/custom_jobs-requirements.txt`, then JOB_MODULES=custom_jobs)."""

from __future__ import annotations

import pydantic
import yaml  # this module's own requirement (custom_jobs-requirements.txt)

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

    @registry.job_type("greeting_card", payload=GreetPayload, timeout_seconds=5)
    def greeting_card(job: Job, ctx: JobContext) -> dict[str, str]:
        card = {"to": job.payload.name, "lines": [f"Hello {job.payload.name}!"] * job.payload.times}
        return {"card": yaml.safe_dump(card, allow_unicode=True, sort_keys=False)}
