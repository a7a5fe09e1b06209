"""submit_job: POST /jobs (also /jobs/add-job, the original path) and POST /jobs/bulk."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import flask
import functions_framework
from sqlalchemy import Connection

from common.db import run_in_transaction
from common.enqueue import NewJob, enqueue, enqueue_many
from common.errors import ValidationError
from common.queries import PUBLIC_JOB_COLUMNS, get_job
from functions._http import (
    engine,
    json_body,
    registry,
    reject_unknown,
    respond,
    serve,
)
from functions.jobs_json import job_json

MAX_BULK_JOBS = 1000
FIELDS = {
    "type",
    "payload",
    "queue",
    "priority",
    "run_at",
    "delay_seconds",
    "max_attempts",
    "idempotency_key",
    "concurrency_key",
    "not_after",
    "expires_in_seconds",
    "callback_url",
}
NOT_NULL = {"type", "payload", "queue", "priority", "max_attempts"}  # null is no default here


@functions_framework.http
def submit_job(request: flask.Request) -> Any:
    """Enqueue one job (201, or 200 with the existing job for a known idempotency key)."""
    view = _submit_bulk if request.path.rstrip("/").endswith("/bulk") else _submit_one
    return serve(request, view, methods={"POST"})


def _submit_one(request: flask.Request) -> flask.Response:
    body = json_body(request)
    header_key = request.headers.get("Idempotency-Key")
    if header_key is not None and body.setdefault("idempotency_key", header_key) != header_key:
        raise ValidationError(
            "the Idempotency-Key header and idempotency_key differ", field="idempotency_key"
        )
    job = parse_new_job(body)

    def submit(conn: Connection) -> tuple[Mapping[str, Any], bool]:
        enqueued = enqueue(conn, job, registry=registry(), returning=PUBLIC_JOB_COLUMNS)
        # The INSERT's own answer where the database has RETURNING; a job just made has no
        # recurring slot (only the schedule tick makes those).
        return enqueued.row or get_job(conn, enqueued.id), enqueued.created

    # A deadlock with a concurrent submission of the key runs it again (then it finds the
    # other's job); still losing after that is a 409 (SubmissionConflict).
    row, created = run_in_transaction(engine(), submit)
    return respond(job_json(dict(row)), 201 if created else 200)


def _submit_bulk(request: flask.Request) -> flask.Response:
    body = json_body(request)
    reject_unknown(body, {"jobs"})
    items = body.get("jobs")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BULK_JOBS:
        raise ValidationError(f"jobs must be a list of 1 to {MAX_BULK_JOBS} jobs", field="jobs")
    new_jobs = []
    for index, item in enumerate(items):
        try:
            new_jobs.append(parse_new_job(item))
        except ValidationError as exc:
            # a job that is no object is named by its index alone, not by a field of it
            field = f"jobs[{index}]" if exc.field == "body" else f"jobs[{index}].{exc.field}"
            raise ValidationError(f"jobs[{index}]: {exc.message}", field=field) from None
    ids = run_in_transaction(
        engine(), lambda conn: enqueue_many(conn, new_jobs, registry=registry())
    )
    return respond({"ids": ids, "count": len(ids)}, 201)


def parse_new_job(body: Any) -> NewJob:
    """A valid NewJob from a request's JSON, checked before any database is asked."""
    if not isinstance(body, dict):
        raise ValidationError("a job must be a JSON object", field="body")
    reject_unknown(body, FIELDS)
    for name in NOT_NULL & set(body):
        if body[name] is None:
            raise ValidationError(f"{name} must not be null: leave it out instead", field=name)
    return NewJob(
        type=body.get("type"),  # type: ignore[arg-type]  # checked by the engine, naming it
        payload=body.get("payload", {}),
        queue=body.get("queue"),
        priority=body.get("priority"),
        run_at=_parse_time(body.get("run_at"), "run_at"),
        delay_seconds=body.get("delay_seconds"),
        max_attempts=body.get("max_attempts"),
        idempotency_key=body.get("idempotency_key"),
        concurrency_key=body.get("concurrency_key"),
        not_after=_parse_time(body.get("not_after"), "not_after"),
        expires_in_seconds=body.get("expires_in_seconds"),
        callback_url=body.get("callback_url"),
    ).with_type_rules(registry())


def _parse_time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise ValidationError(
            f"{name} must be an ISO-8601 date-time with an offset, e.g. 2030-01-01T09:00:00Z",
            field=name,
        )
    return moment
