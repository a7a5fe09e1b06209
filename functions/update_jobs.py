"""update_jobs: POST /jobs/update retries or cancels jobs by ids or by filter.

A filter that names no status, type, queue or fingerprint would act on every job in the
database, so it must say so: ``{"all": true}``. ``all`` with a narrowing field is refused rather
than guessed at. ``fingerprint`` is a DLQ group's (GET /dlq).
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework

from common.errors import MethodNotAllowed, ValidationError
from common.maintenance import JobFilter, cancel_jobs, retry_jobs
from common.states import Status
from functions._http import engine, is_integer, json_body, reject_unknown, respond, serve
from functions.jobs_json import MAX_JOB_ID
from functions.list_jobs import parse_status

ACTIONS = {"retry": retry_jobs, "cancel": cancel_jobs}
MAX_IDS = 10_000
FIELDS = ("action", "ids", "filter")
FILTER_FIELDS = ("status", "type", "queue", "fingerprint", "all")


@functions_framework.http
def update_jobs(request: flask.Request) -> Any:
    """Retry (FAILED/DLQ -> SCHEDULED) or cancel jobs; answers how many changed."""
    if request.method == "GET":  # the original design's GET; a GET must not change state
        return serve(request, _refuse_get, methods={"GET"})
    return serve(request, _update, methods={"POST"})


def _refuse_get(request: flask.Request) -> flask.Response:
    raise MethodNotAllowed(
        "GET /jobs/update no longer changes jobs: send the same request as "
        'POST /jobs/update with {"action": ..., "ids": [...]}',
        field="method",
        allowed=("POST",),
    )


def _update(request: flask.Request) -> flask.Response:
    body = json_body(request)
    reject_unknown(body, FIELDS)
    name = body.get("action")
    action = ACTIONS.get(name) if isinstance(name, str) else None
    if action is None:
        raise ValidationError('action must be "retry" or "cancel"', field="action")
    if ("ids" in body) == ("filter" in body):
        raise ValidationError("give either ids or filter", field="ids")
    if "ids" in body:
        updated = action(engine(), ids=_ids(body["ids"]))
    else:
        updated = action(engine(), where=parse_filter(body["filter"]))
    return respond({"updated": updated})


def _ids(raw: Any) -> list[int]:
    valid = (
        isinstance(raw, list)
        and len(raw) <= MAX_IDS
        and all(is_integer(i) and 0 < i <= MAX_JOB_ID for i in raw)
    )
    if not valid:
        raise ValidationError(f"ids must be a list of up to {MAX_IDS} job ids", field="ids")
    return raw


def parse_filter(raw: Any) -> JobFilter:
    """The JobFilter a request's ``filter`` object asks for (the CLI builds one the same way)."""
    if not isinstance(raw, dict):
        raise ValidationError(
            'filter must be an object with status, type, queue, fingerprint, or "all": true',
            field="filter",
        )
    reject_unknown(raw, FILTER_FIELDS, prefix="filter.")
    where = JobFilter(
        status=_filter_status(raw.get("status")),
        type=_filter_name(raw, "type"),
        queue=_filter_name(raw, "queue"),
        fingerprint=_filter_name(raw, "fingerprint"),
    )
    _check_all(raw.get("all", False), narrowed=where != JobFilter())
    return where


def _filter_status(raw: Any) -> Status | None:
    if raw is not None and not isinstance(raw, str):
        raise ValidationError("filter.status must be a string", field="filter.status")
    try:
        return parse_status(raw)
    except ValidationError as exc:
        raise ValidationError(exc.message, field="filter.status") from None


def _filter_name(raw: dict[str, Any], name: str) -> str | None:
    """filter.type, filter.queue or filter.fingerprint; null and "" match any, as in GET /jobs."""
    value = raw.get(name)
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"filter.{name} must be a string", field=f"filter.{name}")
    return value or None


def _check_all(every: Any, *, narrowed: bool) -> None:
    """Acting on every job must be asked for with "all": true, and then only that."""
    if not isinstance(every, bool):
        raise ValidationError("filter.all must be true or false", field="filter.all")
    if every and narrowed:
        raise ValidationError(
            "filter.all: true means every job; it cannot be given with status, type, queue or"
            " fingerprint",
            field="filter.all",
        )
    if not every and not narrowed:
        raise ValidationError(
            "this filter matches every job: give status, type, queue or fingerprint,"
            ' or "all": true',
            field="filter",
        )
