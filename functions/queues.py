"""queues: GET /queues, PUT /queues/{queue}, POST /queues/{queue}/pause and /resume.

The controls are stored in the database (common/queue_controls.py), so every function
instance sees a change at its next claim; each change is audited in ``queue_changes``.
"""

from __future__ import annotations

import logging
from typing import Any

import flask
import functions_framework

from common.enqueue import NAME
from common.errors import NotFound, ValidationError
from common.queue_controls import (
    QueueControls,
    one_queue,
    queue_overview,
    set_controls,
    set_paused,
)
from functions._http import engine, json_body, registry, reject_unknown, respond, serve

log = logging.getLogger("skiplock.queues")
SHORTCUTS = {"pause": True, "resume": False}


@functions_framework.http
def queues(request: flask.Request) -> Any:
    """List queues with their counts and controls, or change one queue's controls."""
    return serve(request, _route, methods={"GET", "PUT", "POST"})


def _route(request: flask.Request) -> flask.Response:
    parts = [part for part in request.path.split("/") if part]
    reject_unknown(request.args, (), what="query parameter")
    if parts == ["queues"] and request.method == "GET":
        return _list()
    if len(parts) == 2 and parts[0] == "queues" and request.method == "PUT":
        return _put(request, parse_queue_name(parts[1]))
    shortcut = len(parts) == 3 and parts[0] == "queues" and parts[2] in SHORTCUTS
    if shortcut and request.method == "POST":
        return _pause(request, parse_queue_name(parts[1]), SHORTCUTS[parts[2]])
    raise NotFound(f"no such path {request.method} {request.path}", field="path")


def _list() -> flask.Response:
    with engine().connect() as conn:
        listed = queue_overview(conn, registry().queue_controls)
    return respond({"queues": listed})


def _put(request: flask.Request, queue: str) -> flask.Response:
    controls = QueueControls.from_json(json_body(request))
    return _store(request, queue, controls)


def _pause(request: flask.Request, queue: str, paused: bool) -> flask.Response:
    json_body(request, optional=True)  # none expected; a body still has to be valid
    changed_by = _who(request)
    controls = set_paused(engine(), queue, paused, changed_by, registry().queue_controls)
    log.info("queue %s controls set by %s: %s", queue, changed_by, controls.as_json())
    return respond(_one(queue))


def _store(request: flask.Request, queue: str, controls: QueueControls) -> flask.Response:
    changed_by = _who(request)
    set_controls(engine(), queue, controls, changed_by)
    log.info("queue %s controls set by %s: %s", queue, changed_by, controls.as_json())
    return respond(_one(queue))


def _who(request: flask.Request) -> str:
    """Who changed the controls, for the audit: the API and the caller's address."""
    return f"api {request.remote_addr or 'unknown'}"


def _one(queue: str) -> dict[str, Any]:
    with engine().connect() as conn:
        return one_queue(conn, queue, registry().queue_controls)


def parse_queue_name(raw: str) -> str:
    """A queue name from a path or a form; 400 naming ``queue`` if it is not one."""
    if not NAME.fullmatch(raw):
        raise ValidationError("queue must be 1-64 letters, digits or _.:-", field="queue")
    return raw
