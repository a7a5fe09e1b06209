"""schedule_tick: POST /ticks/schedule, fired by the cron scheduler (about once a minute)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import flask
import functions_framework

from common.recurring import enqueue_due
from common.schedule import schedule_tick as run_schedule_tick
from functions._http import engine, recurring_schedules, registry, respond, serve, settings
from functions.ticks import parse_schedule_tick


@functions_framework.http
def schedule_tick(request: flask.Request) -> Any:
    """Enqueue the due slots of RECURRING_FILE's schedules, cancel jobs past their deadline,
    promote due and retryable jobs, recover expired leases, prune old finished jobs, for at
    most SCHEDULE_BUDGET_SECONDS (or the asked budget). A bad RECURRING_FILE stops it (503)."""
    return serve(request, _tick, methods={"POST"}, tick=True)


def _tick(request: flask.Request) -> flask.Response:
    config = settings()
    budget = parse_schedule_tick(request, config.schedule_budget_seconds)
    recurring = enqueue_due(
        engine(), recurring_schedules(), registry(), retention_seconds=config.retention_seconds
    )
    summary = run_schedule_tick(
        engine(), budget_seconds=budget, retention_seconds=config.retention_seconds
    )
    return respond({**asdict(summary), "recurring_enqueued": recurring.enqueued})
