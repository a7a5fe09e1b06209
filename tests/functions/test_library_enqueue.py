"""enqueue() called from an application's own code gives the same job, or the same error naming
the same field, as POST /jobs: the job type's rules live in the engine, not in the HTTP adapter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine

from common.enqueue import NewJob, enqueue
from common.errors import SkiplockError, ValidationError
from tests.factories import count_rows, job_row
from tests.functions.client import Configure, Functions

CUSTOM_TYPES = "tests.unit.handlers.custom_jobs"  # declares "greet": queue chores, 2 attempts
REFUSED = [
    {"type": "emial"},
    {"type": "email", "payload": {"to": "not-an-address", "subject": "Hi", "text": "."}},
    {"type": "sleep", "payload": {"seconds": "soon"}},
    {"type": "greet", "payload": {"times": 2}},
    {"type": "noop", "payload": ["not", "an", "object"]},
    {"type": "noop", "priority": 1.5},
    {"type": "noop", "max_attempts": 0},
    {"type": "noop", "queue": "has space"},
]


@pytest.fixture
def deployment(functions: Functions, configure: Configure, db_url: str) -> Functions:
    """The functions, and the same process's enqueue(), with a user's job types and MAX_ATTEMPTS."""
    configure(DATABASE_URL=db_url, JOB_MODULES=CUSTOM_TYPES, MAX_ATTEMPTS="3")
    return functions


@pytest.mark.parametrize("body", REFUSED, ids=lambda body: str(body)[:50])
def test_enqueue_refuses_what_post_jobs_refuses_with_the_same_error(
    deployment: Functions, engine: Engine, body: dict[str, Any]
) -> None:
    answer = deployment.submit_job.post("/jobs", json=body)
    assert answer.status_code == 400, answer.text
    posted = answer.get_json()["error"]

    with pytest.raises(ValidationError) as raised, engine.begin() as conn:
        enqueue(conn, NewJob(**body))

    assert (raised.value.field, raised.value.message) == (posted["field"], posted["message"])
    assert count_rows(engine) == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"type": "greet", "payload": {"name": "Ada"}}, ("chores", 3, 2)),  # the type's defaults
        ({"type": "noop"}, ("default", 0, 3)),  # no defaults of its own: MAX_ATTEMPTS
        (
            {"type": "greet", "payload": {"name": "Ada"}, "queue": "q", "max_attempts": 9},
            ("q", 3, 9),
        ),
    ],
)
def test_enqueue_fills_in_the_same_defaults_as_post_jobs(
    deployment: Functions, engine: Engine, body: dict[str, Any], expected: tuple[str, int, int]
) -> None:
    posted = deployment.submit_job.post("/jobs", json=body).get_json()
    with engine.begin() as conn:
        job_id = enqueue(conn, NewJob(**body)).id
    row = job_row(engine, job_id)

    assert (posted["queue"], posted["priority"], posted["max_attempts"]) == expected
    assert (row["queue"], row["priority"], row["max_attempts"]) == expected
    assert row["payload"] == posted["payload"] == body.get("payload", {})


HOOK = "http://127.0.0.1:9/hook"
SECRET = {"WEBHOOK_SECRET": "s"}
PLUS_ONE = timezone(timedelta(hours=1))
# (the body POSTed, the same job given to enqueue(), more settings)
REFUSED_WITH_SETTINGS = [
    ({"type": "noop", "callback_url": HOOK}, NewJob("noop", callback_url=HOOK), {}),  # unsigned
    ({"type": "noop", "callback_url": HOOK}, NewJob("noop", callback_url=HOOK), SECRET),  # private
    (
        {"type": "noop", "callback_url": "https://nowhere.invalid/hook"},
        NewJob("noop", callback_url="https://nowhere.invalid/hook"),
        SECRET,
    ),
    (
        {"type": "noop", "run_at": "1000-01-01T00:00:00Z"},
        NewJob("noop", run_at=datetime(1000, 1, 1, tzinfo=UTC)),
        {},
    ),
    (
        {"type": "noop", "not_after": "0001-01-01T00:00:00+01:00"},
        NewJob("noop", not_after=datetime(1, 1, 1, tzinfo=PLUS_ONE)),
        {},
    ),
]


@pytest.mark.parametrize(
    ("body", "job", "settings"), REFUSED_WITH_SETTINGS, ids=lambda v: str(v)[:40]
)
def test_enqueue_refuses_a_callback_or_time_that_post_jobs_refuses(
    deployment: Functions,
    configure: Configure,
    engine: Engine,
    body: dict[str, Any],
    job: NewJob,
    settings: dict[str, str],
) -> None:
    configure(**settings)
    answer = deployment.submit_job.post("/jobs", json=body)
    assert answer.status_code in (400, 503), answer.text
    posted = answer.get_json()["error"]

    with pytest.raises(SkiplockError) as raised, engine.begin() as conn:
        enqueue(conn, job)

    refused = (raised.value.status, raised.value.code, raised.value.field, raised.value.message)
    assert refused == (answer.status_code, posted["code"], posted["field"], posted["message"])
    assert count_rows(engine) == 0
