"""Loads infra/functions.toml: the functions, their routes and the tick schedules."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DEFINITIONS_FILE = Path(__file__).with_name("functions.toml")
TRIGGERS = ("http", "schedule")
USES = ("bucket", "email")  # cloud resources a function may use beyond the database


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {name} placeholders, as API gateways write them

    @classmethod
    def parse(cls, text: str) -> Route:
        method, path = text.split()
        return cls(method.upper(), path)


@dataclass(frozen=True)
class Function:
    name: str
    entry_point: str
    trigger: str
    timeout_seconds: int
    memory_mb: int
    routes: tuple[Route, ...]
    uses: tuple[str, ...] = ()  # what it is granted on top of the database: see USES


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str  # five fields, UTC
    target: str
    budget_seconds: float


@dataclass(frozen=True)
class Definitions:
    functions: tuple[Function, ...]
    schedules: tuple[Schedule, ...]

    def function(self, name: str) -> Function:
        return next(f for f in self.functions if f.name == name)

    def schedules_of(self, name: str) -> tuple[Schedule, ...]:
        """The schedules that fire the function ``name``."""
        return tuple(s for s in self.schedules if s.target == name)


@cache
def load(path: Path = DEFINITIONS_FILE) -> Definitions:
    """The definitions in ``path``, checked by :func:`check`."""
    raw = tomllib.loads(path.read_text())
    functions = tuple(_function(f) for f in raw["functions"])
    schedules = tuple(Schedule(**s) for s in raw.get("schedules", ()))
    definitions = Definitions(functions, schedules)
    check(definitions)
    return definitions


def _function(raw: dict[str, Any]) -> Function:
    routes = tuple(Route.parse(r) for r in raw["routes"])
    return Function(**{**raw, "routes": routes, "uses": tuple(raw.get("uses", ()))})


def check(definitions: Definitions) -> None:
    """Raise ValueError where the definitions cannot be deployed as written."""
    names = [f.name for f in definitions.functions]
    if len(set(names)) != len(names):
        raise ValueError(f"function names repeat: {names}")
    for schedule in definitions.schedules:
        _check_schedule(schedule, names, definitions)
    for function in definitions.functions:
        _check_function(function, definitions)


def _check_function(function: Function, definitions: Definitions) -> None:
    if function.trigger not in TRIGGERS:
        raise ValueError(f"function {function.name}: trigger must be one of {TRIGGERS}")
    unknown = set(function.uses) - set(USES)
    if unknown:
        raise ValueError(f"function {function.name}: unknown uses {sorted(unknown)}")
    if function.trigger == "schedule" and not definitions.schedules_of(function.name):
        raise ValueError(f"function {function.name} is schedule-triggered but no schedule fires it")


def _check_schedule(schedule: Schedule, names: list[str], definitions: Definitions) -> None:
    if schedule.target not in names:
        raise ValueError(f"schedule {schedule.name} targets unknown {schedule.target}")
    target = definitions.function(schedule.target)
    if target.trigger != "schedule":
        raise ValueError(f"schedule {schedule.name} targets {target.name}, not schedule-triggered")
    if len(schedule.cron.split()) != 5:
        raise ValueError(f"schedule {schedule.name}: cron needs five fields, got {schedule.cron!r}")
    if not 0 < schedule.budget_seconds < target.timeout_seconds:
        raise ValueError(
            f"schedule {schedule.name}: budget {schedule.budget_seconds}s must be above 0 and "
            f"below {target.name}'s timeout ({target.timeout_seconds}s)"
        )
