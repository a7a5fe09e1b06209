"""list_jobs: GET /jobs (filtered, newest first, keyset pages), GET /jobs/<id>, GET /recurring
(the recurring schedules), GET /dlq (the DLQ grouped by error fingerprint), and the API doc."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import flask
import functions_framework

from common.dlq import dlq_groups
from common.errors import MethodNotAllowed, NotFound, ValidationError
from common.maintenance import JobFilter
from common.queries import attempt_history, get_job
from common.queries import list_jobs as query_jobs
from common.recurring import describe
from common.states import Status
from functions._http import engine, recurring_schedules, reject_unknown, respond, serve
from functions.jobs_json import MAX_JOB_ID, attempt_json, dlq_group_json, job_json

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
LIST_PARAMETERS = ("status", "type", "queue", "limit", "cursor")
DLQ_PARAMETERS = ("limit",)
DEFAULT_DLQ_GROUPS = 100
POST_ONLY = {"add-job", "bulk"}  # POST /jobs/add-job and /jobs/bulk; GET /jobs/update has its own


@functions_framework.http
def list_jobs(request: flask.Request) -> Any:
    """Read jobs: a page of them, one with its attempt history, the recurring schedules, or the
    API's description."""
    return serve(request, _route, methods={"GET"})


def _route(request: flask.Request) -> flask.Response:
    parts = [part for part in request.path.split("/") if part]
    if parts == ["jobs"]:
        reject_unknown(request.args, LIST_PARAMETERS, what="query parameter")
        return _list(request.args)
    if parts == ["recurring"]:
        reject_unknown(request.args, (), what="query parameter")
        return respond({"recurring": describe(engine(), recurring_schedules())})
    if parts == ["dlq"]:
        reject_unknown(request.args, DLQ_PARAMETERS, what="query parameter")
        return _dlq(request.args)
    if parts == ["openapi.json"]:
        reject_unknown(request.args, (), what="query parameter")
        return respond(openapi_document())
    if len(parts) == 2 and parts[0] == "jobs" and parts[1] in POST_ONLY:
        raise MethodNotAllowed(
            f"GET /jobs/{parts[1]} is not allowed; use POST (it is no job id)",
            field="method",
            allowed=("POST",),
        )
    if len(parts) == 2 and parts[0] == "jobs":
        reject_unknown(request.args, (), what="query parameter")
        return _one(parts[1])
    raise NotFound(f"no such path {request.path}", field="path")


def _list(args: Mapping[str, str]) -> flask.Response:
    where = JobFilter(
        status=parse_status(args.get("status")),
        type=args.get("type") or None,
        queue=args.get("queue") or None,
    )
    limit, before = _limit(args.get("limit")), _cursor(args.get("cursor"))
    with engine().connect() as conn:
        rows, next_before = query_jobs(conn, where, limit=limit, before_id=before)
    next_cursor = None if next_before is None else str(next_before)
    return respond({"jobs": [job_json(row) for row in rows], "next_cursor": next_cursor})


def _dlq(args: Mapping[str, str]) -> flask.Response:
    limit = _limit(args.get("limit"), DEFAULT_DLQ_GROUPS)
    with engine().connect() as conn:
        groups = dlq_groups(conn, limit=limit)
    return respond({"groups": [dlq_group_json(group) for group in groups]})


def _one(raw_id: str) -> flask.Response:
    job_id = _job_id(raw_id)
    if job_id is None:
        raise ValidationError(f"job_id must be an integer from 1 to {MAX_JOB_ID}", field="job_id")
    with engine().connect() as conn:
        try:
            job = get_job(conn, job_id)
        except NotFound as exc:  # common names the id "id"; this path calls it job_id
            raise NotFound(exc.message, field="job_id") from None
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


def _limit(raw: str | None, default: int = DEFAULT_LIMIT) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")
    return value


def _cursor(raw: str | None) -> int | None:
    """The job id a next_cursor stands for; what it holds is no business of the client's."""
    if raw is None or raw == "":
        return None
    before = _job_id(raw)
    if before is None:
        raise ValidationError(
            "cursor is not one this API gave out: pass next_cursor of the previous page",
            field="cursor",
        )
    return before


def _job_id(raw: str) -> int | None:
    """A job id written as the API writes one (decimal digits only), or None."""
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_JOB_ID else None
