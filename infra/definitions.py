"""Loads infra/functions.toml: the functions, their routes and the tick schedules."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DEFINITIONS_FILE = Path(__file__).with_name("functions.toml")


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


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    target: str
    budget_seconds: float


@dataclass(frozen=True)
class Definitions:
    functions: tuple[Function, ...]
    schedules: tuple[Schedule, ...]

    def function(self, name: str) -> Function:
        return next(f for f in self.functions if f.name == name)


@cache
def load(path: Path = DEFINITIONS_FILE) -> Definitions:
    """The definitions in ``path``, checked for schedules that target unknown functions."""
    raw = tomllib.loads(path.read_text())
    functions = tuple(
        Function(**{**f, "routes": tuple(Route.parse(r) for r in f["routes"])})
        for f in raw["functions"]
    )
    schedules = tuple(Schedule(**s) for s in raw["schedules"])
    names = {f.name for f in functions}
    for schedule in schedules:
        if schedule.target not in names:
            raise ValueError(f"schedule {schedule.name} targets unknown {schedule.target}")
    return Definitions(functions, schedules)
