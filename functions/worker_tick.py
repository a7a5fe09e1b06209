"""worker_tick: POST /ticks/work, fired by the cron scheduler; runs jobs for its time budget."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

import flask
import functions_framework

from common.worker import TickOptions, work_tick
from functions._http import engine, registry, respond, serve, settings
from functions.ticks import parse_work_tick


@functions_framework.http
def worker_tick(request: flask.Request) -> Any:
    """Claim, run and finish jobs until WORKER_BUDGET_SECONDS (or the asked budget) is spent."""
    return serve(request, _tick, methods={"POST"}, tick=True)


def _tick(request: flask.Request) -> flask.Response:
    config = settings()
    tick = parse_work_tick(request, config.worker_budget_seconds)
    options = TickOptions(
        worker_id=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        budget_seconds=tick.budget_seconds,
        batch_size=config.worker_batch_size,
        lease_seconds=config.lease_seconds,
        poll_seconds=config.worker_poll_seconds,
        backoff=config.backoff,
        max_jobs=tick.max_jobs,
        queues=tick.queues,
    )
    return respond(work_tick(engine(), registry(), options).as_dict())
