"""worker_tick: POST /ticks/work, fired by the cron scheduler; runs jobs for its time budget."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

import flask
import functions_framework

from common.errors import Misconfigured
from common.shutdown import stop_on_signals
from common.worker import TickOptions, work_tick
from functions._http import engine, registry, respond, serve, settings
from functions.catalog import check_deployment
from functions.ticks import parse_work_tick

# An instance told to shut down (SIGTERM from Cloud Run, Lambda or gunicorn; Ctrl-C) ends its
# ticks in time: they stop claiming and hand back what they have not started (common/worker.py).
# Loaded in the process's main thread, where signal handlers can be installed.
stop_on_signals()


@functions_framework.http
def worker_tick(request: flask.Request) -> Any:
    """Claim, run and finish jobs until WORKER_BUDGET_SECONDS (or the asked budget) is spent.

    A tick asked over HTTP without a budget runs WORKER_HTTP_BUDGET_SECONDS, which fits the
    gateway in front of it; the cron asks for WORKER_BUDGET_SECONDS.
    """
    return serve(request, _tick, methods={"POST"}, tick=True)


def _tick(request: flask.Request) -> flask.Response:
    config = settings()
    _check_deployment()
    tick = parse_work_tick(request, config.worker_budget_seconds, config.worker_http_budget_seconds)
    options = TickOptions.from_settings(
        config,
        worker_id=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        budget_seconds=tick.budget_seconds,
        max_jobs=tick.max_jobs,
        queues=tick.queues,
    )
    return respond(work_tick(engine(), registry(), options).as_dict())


def _check_deployment() -> None:
    try:
        check_deployment(settings(), registry())
    except ValueError as exc:
        raise Misconfigured(str(exc)) from None
