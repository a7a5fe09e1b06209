"""The registry of job types: each declared once with its handler, payload schema and timeout."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic

from common.config import Settings
from common.errors import ValidationError
from common.queue_controls import QueueControls


@dataclass(frozen=True, slots=True)
class Job:
    """What a handler is given: the job's id, attempt number and (validated) payload."""

    id: int
    type: str
    queue: str
    attempt: int
    max_attempts: int
    payload: Any


JOB_LOGGER = logging.getLogger("skiplock.job")


class Cancellation:
    """Set when the worker gives up on an attempt: ``threading.Event``'s is_set/wait/set.

    Most handlers never wait on it, so its Event is made only for one that does.
    """

    def __init__(self) -> None:
        self._set = False
        self._event: threading.Event | None = None
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._lock:
            self._set = True
            if self._event is not None:
                self._event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set, or ``timeout`` seconds; True if it was set."""
        with self._lock:
            if self._set:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)


@dataclass
class JobContext:
    """The handler's view of its surroundings: time left, whether it was given up on, its
    lease, a logger.

    A handler that runs past its deadline is given up on: its attempt ends ``timeout`` and
    ``cancelled`` is set. Python cannot stop a thread, so a long handler should check
    ``cancelled`` (or wait on it instead of sleeping) and pass ``remaining_seconds()`` as the
    timeout of what it waits for; whatever it returns after being given up on is discarded.
    """

    deadline: float  # the ``clock()`` value by which the handler must have returned
    extend_lease: Callable[[float], None]
    logger: logging.Logger = JOB_LOGGER
    clock: Callable[[], float] = time.monotonic  # the tick's clock, which set the deadline
    cancelled: Cancellation = field(default_factory=Cancellation)

    def remaining_seconds(self) -> float:
        """Seconds left before the handler's deadline (its timeout or the tick's budget)."""
        return max(0.0, self.deadline - self.clock())


Handler = Callable[[Job, JobContext], Any]
# How long a job is expected to run: seconds, or a function of its validated payload.
Expected = float | Callable[[Any], float]


@dataclass(frozen=True)
class JobType:
    """A job type: its handler and how jobs of it are checked, timed, run and queued by default.

    ``timeout_seconds`` is the most an attempt may take; ``expected_seconds`` what it usually
    takes, for deciding whether it may start in what is left of a tick until the worker has
    learnt the type's real durations (see common/start_rule.py). ``concurrency`` caps how
    many of its jobs one tick runs at once (a CPU-heavy type may want 1).
    """

    name: str
    handler: Handler
    payload_model: type[pydantic.BaseModel] | None = None
    timeout_seconds: float = 30.0
    queue: str | None = None
    priority: int | None = None
    max_attempts: int | None = None
    expected_seconds: Expected | None = None
    concurrency: int | None = None

    def __post_init__(self) -> None:
        if not self.timeout_seconds > 0:
            raise ValueError(f"job type {self.name}: timeout_seconds must be above 0")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(f"job type {self.name}: concurrency must be 1 or more")

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
        # Queue controls declared in code; PUT /queues/{queue} overrides them (queue_controls).
        self.queue_controls: dict[str, QueueControls] = {}
        # What a callback_url must be at enqueue: the webhook type (common/handlers/webhook.py)
        # sets the rule of its deployment's settings when it is registered.
        self.callback_rule: Callable[[str], None] = lambda url: None

    def control_queue(self, queue: str, controls: QueueControls) -> None:
        """Declare ``queue``'s controls, e.g. ``QueueControls(max_running_per_key=1)``."""
        self.queue_controls[queue] = controls

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
        expected_seconds: Expected | None = None,
        concurrency: int | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator: ``@registry.job_type("thumbnail", payload=ThumbnailPayload)``."""

        def register(handler: Handler) -> Handler:
            self.register(
                JobType(
                    name,
                    handler,
                    payload,
                    timeout_seconds,
                    queue,
                    priority,
                    max_attempts,
                    expected_seconds,
                    concurrency,
                )
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

    def types(self) -> list[JobType]:
        return [self._types[name] for name in self.names()]
