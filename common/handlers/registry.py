"""The registry of job types: each declared once with its handler, payload schema and timeout."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic

from common.config import Settings
from common.errors import ValidationError


@dataclass(frozen=True)
class Job:
    """What a handler is given: the job's id, attempt number and (validated) payload."""

    id: int
    type: str
    queue: str
    attempt: int
    max_attempts: int
    payload: Any


@dataclass
class JobContext:
    """The handler's view of its surroundings: time left, its lease, a logger."""

    deadline: float  # the ``clock()`` value by which the handler must have returned
    extend_lease: Callable[[float], None]
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("skiplock.job"))
    clock: Callable[[], float] = time.monotonic  # the tick's clock, which set the deadline

    def remaining_seconds(self) -> float:
        """Seconds left before the handler's deadline (its timeout or the tick's budget)."""
        return max(0.0, self.deadline - self.clock())


Handler = Callable[[Job, JobContext], Any]


@dataclass(frozen=True)
class JobType:
    """A job type: its handler and how jobs of it are checked, timed and queued by default."""

    name: str
    handler: Handler
    payload_model: type[pydantic.BaseModel] | None = None
    timeout_seconds: float = 30.0
    queue: str | None = None
    priority: int | None = None
    max_attempts: int | None = None

    def parse_payload(self, payload: Any) -> Any:
        """The payload as the handler receives it; ValidationError naming the bad field."""
        if self.payload_model is None:
            return payload
        try:
            return self.payload_model.model_validate(payload)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            name = f"payload.{where}" if where else "payload"
            raise ValidationError(f"{name}: {first['msg']}", field=name) from None


class Registry:
    """Job types by name. ``job_type`` is the decorator users declare their own types with."""

    def __init__(self, *, default_max_attempts: int = Settings.max_attempts) -> None:
        self._types: dict[str, JobType] = {}
        self.default_max_attempts = default_max_attempts  # for types that declare none

    def register(self, job_type: JobType) -> JobType:
        if job_type.name in self._types:
            raise ValueError(f"job type {job_type.name!r} is registered already")
        self._types[job_type.name] = job_type
        return job_type

    def job_type(
        self,
        name: str,
        *,
        payload: type[pydantic.BaseModel] | None = None,
        timeout_seconds: float = 30.0,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator: ``@registry.job_type("thumbnail", payload=ThumbnailPayload)``."""

        def register(handler: Handler) -> Handler:
            self.register(
                JobType(name, handler, payload, timeout_seconds, queue, priority, max_attempts)
            )
            return handler

        return register

    def get(self, name: str) -> JobType:
        """The job type called ``name``; ValidationError on the ``type`` field if unknown."""
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types)) or "none"
            raise ValidationError(
                f"unknown job type {name!r} (known: {known})", field="type"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._types)
