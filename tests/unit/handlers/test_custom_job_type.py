"""A user adds a job type of their own with a module named in JOB_MODULES."""

from __future__ import annotations

import pytest

from common.config import Settings
from common.errors import PermanentJobError, ValidationError
from common.handlers.catalog import build_registry
from tests.cloud import make_context, make_job

SETTINGS = Settings.from_env({"JOB_MODULES": "tests.unit.handlers.custom_jobs"})


def test_job_module_adds_its_type_beside_the_bundled_ones() -> None:
    names = build_registry(SETTINGS).names()

    assert {"greet", "email", "pdf", "file_upload"} <= set(names)


def test_custom_type_carries_its_defaults() -> None:
    greet = build_registry(SETTINGS).get("greet")

    assert (greet.queue, greet.priority, greet.max_attempts, greet.timeout_seconds) == (
        "chores",
        3,
        2,
        5,
    )


def test_custom_type_payload_is_validated_at_submit_time() -> None:
    greet = build_registry(SETTINGS).get("greet")

    with pytest.raises(ValidationError) as raised:
        greet.parse_payload({"name": "Ana", "times": 9})

    assert raised.value.field == "payload.times"


def test_custom_handler_gets_the_parsed_payload_and_returns_its_result() -> None:
    greet = build_registry(SETTINGS).get("greet")
    job = make_job("greet", greet.parse_payload({"name": "Ana", "times": 2}))

    assert greet.handler(job, make_context()) == {"greeting": "Hello Ana! Hello Ana!"}


def test_custom_handler_can_fail_permanently() -> None:
    greet = build_registry(SETTINGS).get("greet")
    job = make_job("greet", greet.parse_payload({"name": "nobody"}))

    with pytest.raises(PermanentJobError):
        greet.handler(job, make_context())


def test_a_custom_handler_uses_its_own_requirement() -> None:
    card = build_registry(SETTINGS).get("greeting_card")
    job = make_job("greeting_card", card.parse_payload({"name": "Zoë", "times": 2}))

    assert card.handler(job, make_context()) == {
        "card": "to: Zoë\nlines:\n- Hello Zoë!\n- Hello Zoë!\n"
    }
