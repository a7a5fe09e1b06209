"""enqueue() called from an application's own code gives the same job, or the same error naming
the same field, as POST /jobs: the job type's rules live in the engine, not in the HTTP adapter.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from common.enqueue import NewJob, enqueue
from common.errors import ValidationError
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
