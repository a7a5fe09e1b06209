"""update_jobs: POST /jobs/update retries or cancels jobs by ids or by filter."""

from __future__ import annotations

from typing import Any

import flask
import functions_framework

from common.errors import MethodNotAllowed, ValidationError
from common.maintenance import JobFilter, cancel_jobs, retry_jobs
from functions._http import engine, json_body, respond, serve
from functions.list_jobs import parse_status

ACTIONS = {"retry": retry_jobs, "cancel": cancel_jobs}
MAX_IDS = 10_000
MAX_ID = 2**63 - 1  # a BIGINT; a larger id cannot even be sent to the database
FILTER_FIELDS = {"status", "type", "queue"}


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
    )


def _update(request: flask.Request) -> flask.Response:
    body = json_body(request)
    unknown = sorted(set(body) - {"action", "ids", "filter"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    name = body.get("action")
    action = ACTIONS.get(name) if isinstance(name, str) else None
    if action is None:
        raise ValidationError('action must be "retry" or "cancel"', field="action")
    if ("ids" in body) == ("filter" in body):
        raise ValidationError("give either ids or filter", field="ids")
    if "ids" in body:
        updated = action(engine(), ids=_ids(body["ids"]))
    else:
        updated = action(engine(), where=_filter(body["filter"]))
    return respond({"updated": updated})


def _ids(raw: Any) -> list[int]:
    valid = (
        isinstance(raw, list)
        and len(raw) <= MAX_IDS
        and all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID for i in raw)
    )
    if not valid:
        raise ValidationError(f"ids must be a list of up to {MAX_IDS} job ids", field="ids")
    return raw


def _filter(raw: Any) -> JobFilter:
    if not isinstance(raw, dict):
        raise ValidationError("filter must be an object with status, type, queue", field="filter")
    unknown = sorted(set(raw) - FILTER_FIELDS)
    if unknown:
        raise ValidationError(f"unknown filter field {unknown[0]!r}", field=f"filter.{unknown[0]}")
    for name in FILTER_FIELDS - {"status"}:
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise ValidationError(f"filter.{name} must be a string", field=f"filter.{name}")
    status = raw.get("status")
    if status is not None and not isinstance(status, str):
        raise ValidationError("filter.status must be a string", field="filter.status")
    try:
        parsed_status = parse_status(status)
    except ValidationError as exc:
        raise ValidationError(exc.message, field="filter.status") from None
    return JobFilter(status=parsed_status, type=raw.get("type"), queue=raw.get("queue"))
