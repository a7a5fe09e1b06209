"""NewJob.validate: a valid job passes unchanged; each invalid field is named in the error."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from common.enqueue import NewJob
from common.errors import ValidationError

COMPLETE = {"type": "noop", "queue": "default", "priority": 0, "max_attempts": 5}


def complete(**fields: Any) -> NewJob:
    """A job with every field ``validate`` requires (enqueue fills them from the job type)."""
    return NewJob(**{**COMPLETE, **fields})


def test_a_minimal_job_is_valid_and_validate_returns_it() -> None:
    job = complete()
    assert job.validate() is job


def test_a_job_using_every_field_within_its_limits_is_valid() -> None:
    job = NewJob(
        type="email.send:v2-x",
        payload={"to": ["a@example.com"], "n": 1.5, "nested": {"ok": None}},
        queue="mail_1",
        priority=-(2**31 - 1),
        run_at=datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=2))),
        max_attempts=100,
        idempotency_key="k" * 255,
    )
    assert job.validate() is job


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": ""}, "type"),
        ({"type": "has space"}, "type"),
        ({"type": "x" * 65}, "type"),
        ({"type": 7}, "type"),
        ({"queue": ""}, "queue"),
        ({"queue": "q/1"}, "queue"),
        ({"queue": None}, "queue"),
        ({"priority": 1.5}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": 2**31}, "priority"),
        ({"priority": "1"}, "priority"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 101}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"max_attempts": 2.0}, "max_attempts"),
        ({"payload": [1, 2]}, "payload"),
        ({"payload": "text"}, "payload"),
        ({"payload": {"x": math.nan}}, "payload"),
        ({"payload": {"x": {1, 2}}}, "payload"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
        ({"idempotency_key": 12}, "idempotency_key"),
        ({"run_at": datetime(2030, 1, 1)}, "run_at"),
        ({"run_at": "2030-01-01T00:00:00Z"}, "run_at"),
        ({"run_at": datetime(2030, 1, 1, tzinfo=UTC), "delay_seconds": 5}, "run_at"),
        ({"delay_seconds": -1}, "delay_seconds"),
        ({"delay_seconds": math.inf}, "delay_seconds"),
        ({"delay_seconds": math.nan}, "delay_seconds"),
        ({"delay_seconds": True}, "delay_seconds"),
        ({"delay_seconds": "5"}, "delay_seconds"),
        ({"delay_seconds": 366 * 24 * 3600 + 1}, "delay_seconds"),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, dict) else value,
)
def test_an_invalid_field_raises_a_validation_error_naming_that_field(
    changes: dict[str, Any], field: str
) -> None:
    job = complete(**changes)
    with pytest.raises(ValidationError) as raised:
        job.validate()
    assert raised.value.field == field
    assert raised.value.message.startswith(field)
    assert raised.value.status == 400


@pytest.mark.parametrize("delay", [0, 0.5, 366 * 24 * 3600])
def test_delays_from_zero_to_a_year_are_valid(delay: float) -> None:
    complete(delay_seconds=delay).validate()
