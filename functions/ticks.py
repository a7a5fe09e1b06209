"""The ticks' bodies, all fields optional: the schedule tick takes {"budget_seconds"}, the worker
tick {"budget_seconds", "max_jobs", "queues"}. Each refuses a field it would not honour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flask

from common.enqueue import NAME
from common.errors import ValidationError
from functions._http import is_integer, is_number, json_body, reject_unknown

SCHEDULE_FIELDS = ("budget_seconds",)
WORK_FIELDS = ("budget_seconds", "max_jobs", "queues")
MAX_QUEUES = 50


@dataclass(frozen=True)
class WorkTick:
    """What a worker tick was asked to do."""

    budget_seconds: float
    max_jobs: int | None
    queues: list[str] | None


def parse_schedule_tick(request: flask.Request, max_budget_seconds: float) -> float:
    """The schedule tick's budget: it may be shortened, never made longer than configured."""
    body = json_body(request, optional=True)
    reject_unknown(body, SCHEDULE_FIELDS)
    return _budget(body.get("budget_seconds", max_budget_seconds), max_budget_seconds)


def parse_work_tick(
    request: flask.Request, max_budget_seconds: float, default_budget_seconds: float
) -> WorkTick:
    """The worker tick's options; the budget may be shortened, never made longer than configured.
    A body without one gets ``default_budget_seconds`` (at most the configured one)."""
    body = json_body(request, optional=True)
    reject_unknown(body, WORK_FIELDS)
    default = min(default_budget_seconds, max_budget_seconds)
    return WorkTick(
        budget_seconds=_budget(body.get("budget_seconds", default), max_budget_seconds),
        max_jobs=_max_jobs(body.get("max_jobs")),
        queues=_queues(body.get("queues")),
    )


def _budget(raw: Any, max_budget_seconds: float) -> float:
    if not is_number(raw) or not 0 < raw <= max_budget_seconds:
        raise ValidationError(
            f"budget_seconds must be a number above 0 and at most {max_budget_seconds:g}",
            field="budget_seconds",
        )
    return float(raw)


def _max_jobs(raw: Any) -> int | None:
    if raw is not None and not (is_integer(raw) and raw >= 1):
        raise ValidationError("max_jobs must be a positive integer", field="max_jobs")
    return raw


def _queues(raw: Any) -> list[str] | None:
    """Queue names as a job's queue is named at submit; 400 naming the first bad one."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_QUEUES:
        raise ValidationError(
            f"queues must be a list of 1 to {MAX_QUEUES} queue names", field="queues"
        )
    for index, name in enumerate(raw):
        if not (isinstance(name, str) and NAME.fullmatch(name)):
            raise ValidationError(
                f"queues[{index}] must be a queue name: 1-64 letters, digits or _.:-",
                field=f"queues[{index}]",
            )
    return raw
