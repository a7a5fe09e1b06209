"""Access: with API_TOKEN and SCHEDULER_TOKEN set, every route of the gateway refuses a caller
without the right token with a 401 JSON error and changes nothing; a set SCHEDULER_TOKEN is the
ticks' only token; tokens are compared in constant time and never echoed.

Public by design: GET /dashboard/login (the form where the token is given) and POST
/dashboard/login (which checks it). There is no health endpoint: GET /openapi.json, which the
local stack polls, requires the token like the rest.
"""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy import Engine, select

import functions.dashboard as dashboard_module
from common.models import metadata
from functions import access
from functions.gateway import AUTOMATIC_METHODS, create_gateway
from tests.functions.client import Configure, FunctionClient, Functions, error_of

API_TOKEN = "api-token-for-tests-0123456789"
SCHEDULER_TOKEN = "scheduler-token-for-tests-9876543210"
API_REFUSAL = {
    "code": "unauthorized",
    "message": "A valid bearer token is required.",
    "field": "Authorization",
}
DASHBOARD_REFUSAL = {
    "code": "unauthorized",
    "message": "log in with the API token",
    "field": "session",
}
PLACEHOLDER = re.compile(r"<(\w+)>")  # Flask's <job_id> is the catalog's {job_id}
PUBLIC = {"GET /dashboard/login", "POST /dashboard/login"}


class Endpoint(NamedTuple):
    route: str  # as the catalog keys it: "GET /jobs/{job_id}"
    path: str
    body: Any
    status: int  # the answer with the right bearer token, on empty tables

    @property
    def method(self) -> str:
        return self.route.split()[0]

    @property
    def tick(self) -> bool:
        return self.path.startswith("/ticks/")

    @property
    def dashboard(self) -> bool:
        return self.path.startswith("/dashboard")


ENDPOINTS = [
    Endpoint("POST /jobs", "/jobs", {"type": "noop"}, 201),
    Endpoint("POST /jobs/add-job", "/jobs/add-job", {"type": "noop"}, 201),
    Endpoint("POST /jobs/bulk", "/jobs/bulk", {"jobs": [{"type": "noop"}]}, 201),
    Endpoint("GET /jobs", "/jobs", None, 200),
    Endpoint("GET /jobs/{job_id}", "/jobs/999999999", None, 404),
    Endpoint("GET /openapi.json", "/openapi.json", None, 200),
    Endpoint("GET /recurring", "/recurring", None, 200),
    Endpoint("GET /dlq", "/dlq", None, 200),
    Endpoint("POST /jobs/update", "/jobs/update", {"action": "retry", "ids": [1]}, 200),
    Endpoint("GET /jobs/update", "/jobs/update", None, 405),
    Endpoint("GET /queues", "/queues", None, 200),
    Endpoint("PUT /queues/{queue}", "/queues/mail", {"paused": True}, 200),
    Endpoint("POST /queues/{queue}/pause", "/queues/mail/pause", None, 200),
    Endpoint("POST /queues/{queue}/resume", "/queues/mail/resume", None, 200),
    Endpoint("GET /metrics", "/metrics", None, 200),
    Endpoint("POST /ticks/schedule", "/ticks/schedule", {"budget_seconds": 1}, 200),
    Endpoint("POST /ticks/work", "/ticks/work", {"budget_seconds": 0.1}, 200),
    # The dashboard takes a session cookie (given by the login page), never a bearer token.
    Endpoint("GET /dashboard", "/dashboard", None, 401),
    Endpoint("GET /dashboard/jobs", "/dashboard/jobs", None, 401),
    Endpoint("GET /dashboard/jobs/{job_id}", "/dashboard/jobs/1", None, 401),
    Endpoint("GET /dashboard/dlq", "/dashboard/dlq", None, 401),
    Endpoint("POST /dashboard/logout", "/dashboard/logout", None, 401),
    Endpoint("POST /dashboard/actions", "/dashboard/actions", None, 401),
]
GUARDED = [e for e in ENDPOINTS if e.route not in PUBLIC]
TICKS = [e for e in ENDPOINTS if e.tick]
API = [e for e in ENDPOINTS if not e.tick and not e.dashboard]
REFUSED_AUTHORIZATIONS = {
    "none": None,
    "wrong": "Bearer wrong-token",
    "basic": f"Basic {API_TOKEN}",
    "basic-base64": "Basic YXBpOmFwaS10b2tlbi1mb3ItdGVzdHM=",
    "empty-bearer": "Bearer",
    "empty-bearer-space": "Bearer ",
    "trailing-junk": f"Bearer {API_TOKEN}x",
    "trailing-space-junk": f"Bearer {API_TOKEN} x",
    "prefix": f"Bearer {API_TOKEN[:-1]}",
    "no-scheme": API_TOKEN,
    "scheduler-token": f"Bearer {SCHEDULER_TOKEN}",  # the wrong kind, except on a tick
}


def catalog_path(rule: str) -> str:
    return PLACEHOLDER.sub(r"{\1}", rule)


def endpoint_id(endpoint: Endpoint) -> str:
    return endpoint.route


def gateway() -> FunctionClient:
    return FunctionClient(create_gateway())


def call(endpoint: Endpoint, authorization: str | None) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    return gateway().request(endpoint.method, endpoint.path, json=endpoint.body, headers=headers)


def database_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: what a refused request must leave as it was."""
    with engine.connect() as conn:
        return {
            table.name: sorted(tuple(map(str, row)) for row in conn.execute(select(table)))
            for table in metadata.sorted_tables
        }


@pytest.fixture
def tokens(functions: Functions, configure: Configure) -> Functions:
    configure(API_TOKEN=API_TOKEN, SCHEDULER_TOKEN=SCHEDULER_TOKEN)
    return functions


def test_every_route_of_the_gateway_is_in_this_test() -> None:
    """A route added to the catalog (or mounted on the gateway any other way) fails here until
    its access is tested above."""
    served = {
        f"{method} {catalog_path(rule.rule)}"
        for rule in create_gateway().url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - AUTOMATIC_METHODS
    }

    assert served == {endpoint.route for endpoint in ENDPOINTS} | PUBLIC


REFUSALS = [
    pytest.param(endpoint, name, id=f"{endpoint.route} {name}")
    for endpoint in GUARDED
    for name in REFUSED_AUTHORIZATIONS
    if not (endpoint.tick and name == "scheduler-token")  # the ticks' own token
]


@pytest.mark.parametrize(("endpoint", "authorization"), REFUSALS)
def test_every_guarded_route_refuses_a_caller_without_its_token_with_401_and_changes_nothing(
    tokens: Functions, engine: Engine, endpoint: Endpoint, authorization: str
) -> None:
    header = REFUSED_AUTHORIZATIONS[authorization]
    before = database_rows(engine)

    response = call(endpoint, header)

    assert response.status_code == 401, response.text
    assert response.mimetype == "application/json"
    assert error_of(response) == (DASHBOARD_REFUSAL if endpoint.dashboard else API_REFUSAL)
    assert database_rows(engine) == before
    shown = response.get_data(as_text=True) + str(response.headers)
    assert API_TOKEN not in shown and SCHEDULER_TOKEN not in shown


@pytest.mark.parametrize("endpoint", TICKS, ids=endpoint_id)
def test_a_tick_refuses_the_client_token_when_a_scheduler_token_is_set(
    tokens: Functions, engine: Engine, endpoint: Endpoint
) -> None:
    before = database_rows(engine)

    response = call(endpoint, f"Bearer {API_TOKEN}")

    assert response.status_code == 401
    assert error_of(response) == API_REFUSAL
    assert database_rows(engine) == before


@pytest.mark.parametrize("endpoint", TICKS, ids=endpoint_id)
def test_the_ticks_accept_the_scheduler_token(tokens: Functions, endpoint: Endpoint) -> None:
    response = call(endpoint, f"Bearer {SCHEDULER_TOKEN}")

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("endpoint", API, ids=endpoint_id)
def test_every_api_route_accepts_the_api_token(tokens: Functions, endpoint: Endpoint) -> None:
    response = call(endpoint, f"Bearer {API_TOKEN}")

    assert response.status_code == endpoint.status, response.text
    assert API_TOKEN not in response.get_data(as_text=True) + str(response.headers)


def test_the_dashboard_refuses_a_bearer_token_it_takes_only_a_session(tokens: Functions) -> None:
    response = gateway().get("/dashboard", headers={"Authorization": f"Bearer {API_TOKEN}"})

    assert response.status_code == 401
    assert error_of(response) == DASHBOARD_REFUSAL


def test_a_browser_refused_by_the_dashboard_gets_the_login_page(tokens: Functions) -> None:
    response = gateway().get("/dashboard/jobs", headers={"Accept": "text/html,*/*;q=0.8"})

    assert response.status_code == 401
    assert response.mimetype == "text/html"
    assert 'name="token"' in response.get_data(as_text=True)


def test_the_login_page_is_public_and_a_wrong_token_there_is_a_401(tokens: Functions) -> None:
    browser = gateway()  # keeps the session cookie
    page = browser.get("/dashboard/login")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf is not None

    refused = browser.post(
        "/dashboard/login",
        data=f"csrf={csrf.group(1)}&token=wrong",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert refused.status_code == 401
    assert error_of(refused) == {
        "code": "unauthorized",
        "message": "That is not the API token.",
        "field": "token",
    }


def test_the_scheme_of_the_authorization_header_may_be_in_any_case(tokens: Functions) -> None:
    response = call(API[3], f"bearer {API_TOKEN}")

    assert response.status_code == 200


def test_without_tokens_the_api_needs_none(functions: Functions) -> None:
    for endpoint in [*API, *TICKS]:
        assert call(endpoint, None).status_code == endpoint.status, endpoint.route


def test_without_a_scheduler_token_the_ticks_take_the_api_token(
    functions: Functions, configure: Configure
) -> None:
    configure(API_TOKEN=API_TOKEN)

    for endpoint in TICKS:
        assert call(endpoint, None).status_code == 401, endpoint.route
        assert call(endpoint, f"Bearer {API_TOKEN}").status_code == 200, endpoint.route


def test_a_scheduler_token_alone_guards_the_ticks_only(
    functions: Functions, configure: Configure
) -> None:
    configure(SCHEDULER_TOKEN=SCHEDULER_TOKEN)

    for endpoint in API:
        assert call(endpoint, None).status_code == endpoint.status, endpoint.route
    for endpoint in TICKS:
        assert call(endpoint, None).status_code == 401, endpoint.route
        with_token = f"Bearer {SCHEDULER_TOKEN}"
        assert call(endpoint, with_token).status_code == 200, endpoint.route


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {API_TOKEN}", "Bearer wrong", f"Basic {API_TOKEN}", "Bearer", None],
)
def test_every_token_check_compares_in_constant_time(
    tokens: Functions, monkeypatch: pytest.MonkeyPatch, authorization: str | None
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    compare_digest = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        compared.append((given, expected))
        return compare_digest(given, expected)

    monkeypatch.setattr(access.hmac, "compare_digest", spy)

    call(API[3], authorization)
    call(TICKS[0], authorization)

    assert [expected for _, expected in compared] == [
        API_TOKEN.encode(),
        SCHEDULER_TOKEN.encode(),
    ]


def test_the_token_checks_have_one_home() -> None:
    """functions/access.py compares tokens (with hmac.compare_digest); nothing else does."""
    assert "hmac.compare_digest(" in Path(access.__file__).read_text()
    dashboard = Path(dashboard_module.__file__).read_text()
    assert "access.token_matches(" in dashboard and "compare_digest" not in dashboard
