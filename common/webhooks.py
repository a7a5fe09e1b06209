"""Completion webhooks: the delivery job of a job that reached a terminal status.

common/transitions.py calls ``enqueue_deliveries`` from every edge into SUCCESS, DLQ or
CANCELLED, in the transition's own transaction and only for jobs that carry a callback_url:
the delivery exists exactly when the terminal status was committed. The delivery is a job of
the built-in ``webhook`` type (common/handlers/webhook.py), in its own queue, retried and
dead-lettered like any job.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from common.enqueue import NewJob, insert_valid
from common.handlers.webhook import WEBHOOK_MAX_ATTEMPTS, WEBHOOK_QUEUE, WEBHOOK_TYPE
from common.models import jobs

# What the receiver is told, read back after the terminal UPDATE in the same transaction.
_SNAPSHOT = select(
    jobs.c.id,
    jobs.c.type,
    jobs.c.queue,
    jobs.c.status,
    jobs.c.attempts,
    jobs.c.result,
    jobs.c.last_error,
    jobs.c.finished_at,
    jobs.c.callback_url,
).where(jobs.c.id.in_(bindparam("ids", expanding=True)), jobs.c.callback_url.is_not(None))


def enqueue_deliveries(conn: Connection, job_ids: Sequence[int]) -> list[int]:
    """Add one webhook job per job of ``job_ids`` that has a callback_url, with the event its
    receiver gets; returns the webhook jobs' ids."""
    rows = conn.execute(_SNAPSHOT, {"ids": list(job_ids)}).all()
    deliveries = [
        NewJob(
            WEBHOOK_TYPE,
            {"url": row.callback_url, "event": event(row)},
            queue=WEBHOOK_QUEUE,
            priority=0,
            max_attempts=WEBHOOK_MAX_ATTEMPTS,
        )
        for row in rows
    ]
    return insert_valid(conn, deliveries)


def event(row: Any) -> dict[str, Any]:
    """The JSON body of a terminal job's webhook."""
    body: dict[str, Any] = {
        "job_id": row.id,
        "type": row.type,
        "queue": row.queue,
        "status": row.status,
        "attempts": row.attempts,
        "finished_at": _iso(row.finished_at),
    }
    if row.status == "SUCCESS":
        body["result"] = row.result
    else:
        body["last_error"] = row.last_error
    return body


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
