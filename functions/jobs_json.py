"""How jobs and their attempts look in the API's JSON."""

from __future__ import annotations

from typing import Any

from common.dlq import DlqGroup
from functions._http import iso

MAX_JOB_ID = 2**63 - 1  # a BIGINT; a larger id cannot even be sent to the database
TIME_FIELDS = (
    "run_at",
    "locked_until",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "not_after",
)


def job_json(job: dict[str, Any]) -> dict[str, Any]:
    """A job row as the API shows it: times as ISO-8601 UTC; a recurring job's slot as
    ``recurring: {name, slot_time}`` (null for other jobs)."""
    shown = {k: v for k, v in job.items() if k not in ("recurring_name", "recurring_slot")}
    name, slot = job.get("recurring_name"), job.get("recurring_slot")
    recurring = None if name is None else {"name": name, "slot_time": iso(slot)}
    return {**shown, **{name: iso(job[name]) for name in TIME_FIELDS}, "recurring": recurring}


def attempt_json(attempt: dict[str, Any]) -> dict[str, Any]:
    return {
        **attempt,
        "started_at": iso(attempt["started_at"]),
        "ended_at": iso(attempt["ended_at"]),
    }


def dlq_group_json(group: DlqGroup) -> dict[str, Any]:
    return {
        **group.as_dict(),
        "first_seen": iso(group.first_seen),
        "last_seen": iso(group.last_seen),
    }
