"""list_jobs: GET /jobs (filtered, newest first, keyset pages), GET /jobs/<id>, and the API doc."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import flask
import functions_framework

from common.errors import NotFound, ValidationError
from common.maintenance import JobFilter
from common.queries import attempt_history, get_job
from common.queries import list_jobs as query_jobs
from common.states import Status
from functions._http import engine, respond, serve
from functions.jobs_json import attempt_json, job_json

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@functions_framework.http
def list_jobs(request: flask.Request) -> Any:
    """Read jobs: a page of them, one with its attempt history, or the API's description."""
    return serve(request, _route, methods={"GET"})


def _route(request: flask.Request) -> flask.Response:
    parts = [part for part in request.path.split("/") if part]
    if parts == ["openapi.json"]:
        return respond(openapi_document())
    if parts == ["jobs"]:
        return _list(request)
    if len(parts) == 2 and parts[0] == "jobs":
        return _one(parts[1])
    raise NotFound(f"no such path {request.path}", field="path")


def _list(request: flask.Request) -> flask.Response:
    args = request.args
    where = JobFilter(
        status=parse_status(args.get("status")),
        type=args.get("type") or None,
        queue=args.get("queue") or None,
    )
    limit = _int_arg(args.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    cursor = args.get("cursor") or None
    before = None if cursor is None else _int_arg(cursor, "cursor", 0, 1, 2**63 - 1)
    with engine().connect() as conn:
        rows, next_before = query_jobs(conn, where, limit=limit, before_id=before)
    next_cursor = None if next_before is None else str(next_before)
    return respond({"jobs": [job_json(row) for row in rows], "next_cursor": next_cursor})


def _one(raw_id: str) -> flask.Response:
    job_id = _int_arg(raw_id, "id", 0, 1, 2**63 - 1)
    with engine().connect() as conn:
        job = get_job(conn, job_id)
        history = attempt_history(conn, job_id)
    return respond({**job_json(job), "attempt_history": [attempt_json(a) for a in history]})


def parse_status(raw: str | None) -> Status | None:
    """A status name from a request (any case), or None; 400 naming ``status`` if unknown."""
    if raw is None or raw == "":
        return None
    try:
        return Status(raw.upper())
    except ValueError:
        known = ", ".join(Status)
        raise ValidationError(f"unknown status {raw!r} (one of {known})", field="status") from None


@cache
def openapi_document() -> dict[str, Any]:
    return json.loads(OPENAPI_FILE.read_text())


def _int_arg(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValidationError(f"{name} must be an integer from {low} to {high}", field=name)
    return value
