"""The body both ticks accept: {"budget_seconds", "max_jobs", "queues"}, all optional."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flask

from common.errors import ValidationError
from functions._http import json_body


@dataclass(frozen=True)
class TickRequest:
    budget_seconds: float
    max_jobs: int | None
    queues: list[str] | None


def parse_tick(request: flask.Request, max_budget_seconds: float) -> TickRequest:
    """The tick's options; the budget may be shortened, never made longer than configured."""
    body = json_body(request, optional=True)
    unknown = sorted(set(body) - {"budget_seconds", "max_jobs", "queues"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    budget = body.get("budget_seconds", max_budget_seconds)
    if not _number(budget) or not 0 < budget <= max_budget_seconds:
        raise ValidationError(
            f"budget_seconds must be a number above 0 and at most {max_budget_seconds:g}",
            field="budget_seconds",
        )
    max_jobs = body.get("max_jobs")
    if max_jobs is not None and not (_integer(max_jobs) and max_jobs >= 1):
        raise ValidationError("max_jobs must be a positive integer", field="max_jobs")
    queues = body.get("queues")
    if queues is not None and not (
        isinstance(queues, list) and queues and all(isinstance(q, str) for q in queues)
    ):
        raise ValidationError("queues must be a non-empty list of queue names", field="queues")
    return TickRequest(float(budget), max_jobs, queues)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
