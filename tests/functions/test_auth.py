"""Bearer tokens: API_TOKEN guards every endpoint when set; the ticks also take SCHEDULER_TOKEN."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from tests.functions.client import Configure, Functions, error_of

API_TOKEN = "api-token-for-tests"
SCHEDULER_TOKEN = "scheduler-token-for-tests"


class Endpoint(NamedTuple):
    target: str
    method: str
    path: str
    body: Any
    status: int  # the answer with a valid token, on empty tables

    @property
    def tick(self) -> bool:
        return self.path.startswith("/ticks/")


ENDPOINTS = [
    Endpoint("submit_job", "POST", "/jobs", {"type": "noop"}, 201),
    Endpoint("submit_job", "POST", "/jobs/add-job", {"type": "noop"}, 201),
    Endpoint("submit_job", "POST", "/jobs/bulk", {"jobs": [{"type": "noop"}]}, 201),
    Endpoint("list_jobs", "GET", "/jobs", None, 200),
    Endpoint("list_jobs", "GET", "/jobs/999999999", None, 404),
    Endpoint("list_jobs", "GET", "/openapi.json", None, 200),
    Endpoint("update_jobs", "POST", "/jobs/update", {"action": "retry", "ids": [1]}, 200),
    Endpoint("update_jobs", "GET", "/jobs/update", None, 405),
    Endpoint("queues", "GET", "/queues", None, 200),
    Endpoint("queues", "PUT", "/queues/mail", {"paused": True}, 200),
    Endpoint("queues", "POST", "/queues/mail/pause", None, 200),
    Endpoint("queues", "POST", "/queues/mail/resume", None, 200),
    Endpoint("schedule_tick", "POST", "/ticks/schedule", {"budget_seconds": 1}, 200),
    Endpoint("worker_tick", "POST", "/ticks/work", {"budget_seconds": 0.1}, 200),
]
TICKS = [e for e in ENDPOINTS if e.tick]
NOT_TICKS = [e for e in ENDPOINTS if not e.tick]


def endpoint_id(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.path}"


def call(functions: Functions, endpoint: Endpoint, headers: dict[str, str]) -> Any:
    client = functions.target(endpoint.target)
    return client.request(endpoint.method, endpoint.path, json=endpoint.body, headers=headers)


@pytest.fixture
def tokens(functions: Functions, configure: Configure) -> Functions:
    configure(API_TOKEN=API_TOKEN, SCHEDULER_TOKEN=SCHEDULER_TOKEN)
    return functions


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {API_TOKEN}", "Bearer", f"Bearer {API_TOKEN}x"],
)
def test_with_an_api_token_set_every_endpoint_refuses_a_request_without_it_with_401(
    tokens: Functions, endpoint: Endpoint, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = call(tokens, endpoint, headers)

    assert response.status_code == 401
    assert error_of(response) == {
        "code": "unauthorized",
        "message": "A valid bearer token is required.",
        "field": "Authorization",
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
def test_every_endpoint_accepts_the_api_token(tokens: Functions, endpoint: Endpoint) -> None:
    response = call(tokens, endpoint, {"Authorization": f"Bearer {API_TOKEN}"})

    assert response.status_code == endpoint.status, response.text


def test_the_scheme_of_the_authorization_header_may_be_in_any_case(tokens: Functions) -> None:
    response = call(tokens, ENDPOINTS[3], {"Authorization": f"bearer {API_TOKEN}"})

    assert response.status_code == 200


@pytest.mark.parametrize("endpoint", TICKS, ids=endpoint_id)
def test_the_ticks_accept_the_scheduler_token(tokens: Functions, endpoint: Endpoint) -> None:
    response = call(tokens, endpoint, {"Authorization": f"Bearer {SCHEDULER_TOKEN}"})

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("endpoint", NOT_TICKS, ids=endpoint_id)
def test_every_other_endpoint_refuses_the_scheduler_token_with_401(
    tokens: Functions, endpoint: Endpoint
) -> None:
    response = call(tokens, endpoint, {"Authorization": f"Bearer {SCHEDULER_TOKEN}"})

    assert response.status_code == 401


def test_without_an_api_token_the_endpoints_need_none(functions: Functions) -> None:
    for endpoint in ENDPOINTS:
        assert call(functions, endpoint, {}).status_code == endpoint.status, endpoint_id(endpoint)


def test_a_scheduler_token_alone_guards_the_ticks_only(
    functions: Functions, configure: Configure
) -> None:
    configure(SCHEDULER_TOKEN=SCHEDULER_TOKEN)

    for endpoint in NOT_TICKS:
        assert call(functions, endpoint, {}).status_code == endpoint.status, endpoint_id(endpoint)
    for endpoint in TICKS:
        assert call(functions, endpoint, {}).status_code == 401, endpoint_id(endpoint)
        with_token = {"Authorization": f"Bearer {SCHEDULER_TOKEN}"}
        assert call(functions, endpoint, with_token).status_code == 200, endpoint_id(endpoint)
