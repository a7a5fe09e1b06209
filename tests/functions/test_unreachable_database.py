"""With the database out of reach every function that needs it answers 503, never a traceback."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functions.client import Configure, Functions, error_of

CLOSED_PORT_URL = "mysql+pymysql://root@127.0.0.1:1/x"

NEEDS_THE_DATABASE: list[tuple[str, str, str, Any]] = [
    ("submit_job", "POST", "/jobs", {"type": "noop"}),
    ("submit_job", "POST", "/jobs/add-job", {"type": "noop", "idempotency_key": "k"}),
    ("submit_job", "POST", "/jobs/bulk", {"jobs": [{"type": "noop"}]}),
    ("list_jobs", "GET", "/jobs", None),
    ("list_jobs", "GET", "/jobs/1", None),
    ("update_jobs", "POST", "/jobs/update", {"action": "retry", "ids": [1]}),
    ("update_jobs", "POST", "/jobs/update", {"action": "cancel", "filter": {"all": True}}),
    ("schedule_tick", "POST", "/ticks/schedule", {"budget_seconds": 1}),
    ("worker_tick", "POST", "/ticks/work", {"budget_seconds": 1}),
]


@pytest.fixture
def functions_without_database(configure: Configure) -> Functions:
    configure(DATABASE_URL=CLOSED_PORT_URL)
    return Functions()


@pytest.mark.parametrize(
    ("target", "method", "path", "body"),
    NEEDS_THE_DATABASE,
    ids=[f"{method} {path}" for _, method, path, _ in NEEDS_THE_DATABASE],
)
def test_an_unreachable_database_is_answered_with_503(
    functions_without_database: Functions, target: str, method: str, path: str, body: Any
) -> None:
    client = functions_without_database.target(target)

    response = client.request(method, path, json=body)

    assert response.status_code == 503
    assert error_of(response) == {
        "code": "database_unavailable",
        "message": "The database cannot be reached.",
        "field": None,
    }
    assert "Traceback" not in response.text and "127.0.0.1" not in response.text


def test_what_needs_no_database_still_answers_without_one(
    functions_without_database: Functions,
) -> None:
    document = functions_without_database.list_jobs.get("/openapi.json")
    refused_get = functions_without_database.update_jobs.get("/jobs/update")
    invalid = functions_without_database.submit_job.post("/jobs", json={"type": "missing"})

    assert (document.status_code, refused_get.status_code, invalid.status_code) == (200, 405, 400)
