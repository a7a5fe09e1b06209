"""The catalog: every function, its HTTP routes, and the cron schedules that fire the ticks.

The one list of what is deployed. The gateway, functions/main.py, the Lambda handlers and the
GCP entry points are made from it, the local cron fires its schedules, and infra/ generates
the AWS template and the Terraform's definitions.json from it (tests check they agree).
A function's code is the function ``<name>`` of functions/<name>.py; that name is also its
functions-framework target, its Lambda handler and its GCP entry point. ``uses`` lists the
cloud resources a function is granted beyond the database and its tokens; the templates grant
them to no other function.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.config import DEFAULTS, Settings
from common.handlers.registry import Registry
from common.start_rule import never_fits

TRIGGERS = ("http", "schedule")
USES = ("bucket", "email")
HttpFunction = Callable[[Any], Any]  # takes a flask.Request, answers what Flask accepts


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {name} placeholders, as API gateways write them

    @classmethod
    def parse(cls, text: str) -> Route:
        """``"GET /jobs"`` -> ``Route("GET", "/jobs")``."""
        method, path = text.split()
        return cls(method.upper(), path)

    @property
    def key(self) -> str:
        """The route as API gateways key it: ``GET /jobs/{job_id}``."""
        return f"{self.method} {self.path}"


def routes(*texts: str) -> tuple[Route, ...]:
    return tuple(Route.parse(text) for text in texts)


@dataclass(frozen=True)
class Function:
    name: str
    trigger: str  # one of TRIGGERS
    timeout_seconds: int
    memory_mb: int
    routes: tuple[Route, ...]
    uses: tuple[str, ...] = ()  # one or more of USES

    def code(self) -> HttpFunction:
        """The function itself: ``name`` in functions/<name>.py, imported on first call."""
        module = importlib.import_module(f"functions.{self.name}")
        function: HttpFunction = getattr(module, self.name)
        return function


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str  # five fields (minute hour day month weekday), UTC
    target: str  # the name of a schedule-triggered function
    budget_setting: str  # the setting that says how long each tick may work

    def budget(self, settings: Settings) -> float:
        """How long each of its ticks may work, as ``settings`` say."""
        return float(getattr(settings, self.budget_setting))

    @property
    def budget_seconds(self) -> float:
        """The budget with the default settings: what the templates deploy."""
        return self.budget(DEFAULTS)


@dataclass(frozen=True)
class Catalog:
    """Functions and schedules, checked by :func:`check` when made."""

    functions: tuple[Function, ...]
    schedules: tuple[Schedule, ...]

    def __post_init__(self) -> None:
        check(self)

    def function(self, name: str) -> Function:
        return next(f for f in self.functions if f.name == name)

    def schedules_of(self, name: str) -> tuple[Schedule, ...]:
        """The schedules that fire the function ``name``."""
        return tuple(s for s in self.schedules if s.target == name)

    def targets(self) -> dict[str, HttpFunction]:
        """Every function's code by name: what functions/main.py exports for deployment."""
        return {function.name: function.code() for function in self.functions}


def check(catalog: Catalog) -> None:
    """Raise ValueError where the catalog cannot be deployed as written."""
    names = [f.name for f in catalog.functions]
    if len(set(names)) != len(names):
        raise ValueError(f"function names repeat: {names}")
    for schedule in catalog.schedules:
        _check_schedule(schedule, names, catalog)
    for function in catalog.functions:
        _check_function(function, catalog)


def _check_function(function: Function, catalog: Catalog) -> None:
    if function.trigger not in TRIGGERS:
        raise ValueError(f"function {function.name}: trigger must be one of {TRIGGERS}")
    unknown = set(function.uses) - set(USES)
    if unknown:
        raise ValueError(f"function {function.name}: unknown uses {sorted(unknown)}")
    if function.trigger == "schedule" and not catalog.schedules_of(function.name):
        raise ValueError(f"function {function.name} is schedule-triggered but no schedule fires it")


def _check_schedule(schedule: Schedule, names: list[str], catalog: Catalog) -> None:
    if schedule.target not in names:
        raise ValueError(f"schedule {schedule.name} targets unknown {schedule.target}")
    target = catalog.function(schedule.target)
    if target.trigger != "schedule":
        raise ValueError(f"schedule {schedule.name} targets {target.name}, not schedule-triggered")
    if len(schedule.cron.split()) != 5:
        raise ValueError(f"schedule {schedule.name}: cron needs five fields, got {schedule.cron!r}")
    if not hasattr(DEFAULTS, schedule.budget_setting):
        raise ValueError(f"schedule {schedule.name}: no setting {schedule.budget_setting}")
    check_budget(catalog, schedule, DEFAULTS)


def check_budget(catalog: Catalog, schedule: Schedule, settings: Settings) -> None:
    """Raise ValueError unless ``schedule``'s budget under ``settings`` fits its function."""
    target = catalog.function(schedule.target)
    budget = schedule.budget(settings)
    if not 0 < budget < target.timeout_seconds:
        raise ValueError(
            f"{schedule.budget_setting.upper()}={budget:g} does not fit schedule {schedule.name}:"
            f" it must be above 0 and below {target.name}'s timeout ({target.timeout_seconds} s)"
        )


CATALOG = Catalog(
    functions=(
        Function(
            "submit_job",
            trigger="http",
            timeout_seconds=30,
            memory_mb=256,
            routes=routes("POST /jobs", "POST /jobs/add-job", "POST /jobs/bulk"),
        ),
        Function(
            "list_jobs",
            trigger="http",
            timeout_seconds=30,
            memory_mb=256,
            routes=routes(
                "GET /jobs",
                "GET /jobs/{job_id}",
                "GET /recurring",
                "GET /dlq",
                "GET /openapi.json",
            ),
        ),
        Function(
            "update_jobs",
            trigger="http",
            timeout_seconds=60,
            memory_mb=256,
            routes=routes("POST /jobs/update", "GET /jobs/update"),
        ),
        Function(
            "queues",
            trigger="http",
            timeout_seconds=30,
            memory_mb=256,
            routes=routes(
                "GET /queues",
                "PUT /queues/{queue}",
                "POST /queues/{queue}/pause",
                "POST /queues/{queue}/resume",
            ),
        ),
        Function(
            "dashboard",
            trigger="http",
            timeout_seconds=30,
            memory_mb=256,
            routes=routes(
                "GET /dashboard",
                "GET /dashboard/jobs",
                "GET /dashboard/jobs/{job_id}",
                "GET /dashboard/dlq",
                "GET /dashboard/login",
                "POST /dashboard/login",
                "POST /dashboard/logout",
                "POST /dashboard/actions",
            ),
            uses=("bucket",),  # links a stored object with a presigned URL
        ),
        Function(
            "metrics",
            trigger="http",
            timeout_seconds=30,
            memory_mb=256,
            routes=routes("GET /metrics"),
        ),
        Function(
            "schedule_tick",
            trigger="schedule",
            timeout_seconds=60,
            memory_mb=256,
            routes=routes("POST /ticks/schedule"),
        ),
        Function(
            "worker_tick",
            trigger="schedule",
            timeout_seconds=60,
            memory_mb=512,
            routes=routes("POST /ticks/work"),
            uses=("bucket", "email"),  # runs the jobs: writes to S3, sends through SES
        ),
    ),
    # A worker tick's budget stays well inside its function's timeout; the lease
    # (LEASE_SECONDS, 120) outlives both.
    schedules=(
        Schedule("schedule-tick", "* * * * *", "schedule_tick", "schedule_budget_seconds"),
        Schedule("worker-tick", "* * * * *", "worker_tick", "worker_budget_seconds"),
    ),
)


def check_deployment(settings: Settings, registry: Registry) -> None:
    """Raise ValueError where ``settings`` would leave a tick or a job type unable to work:
    a schedule's budget that its function's timeout cuts short, or a job type that declares
    it takes longer than any worker tick may run."""
    for schedule in CATALOG.schedules:
        check_budget(CATALOG, schedule, settings)
    budget = settings.worker_budget_seconds
    for job_type in registry.types():
        if never_fits(job_type, budget):
            raise ValueError(
                f"job type {job_type.name!r} expects to run {job_type.expected_seconds} s, longer"
                f" than WORKER_BUDGET_SECONDS={budget:g}: no worker tick could ever start it"
            )
