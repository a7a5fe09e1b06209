"""functions/gateway.py: one app routing every path of the catalog to its function."""

from __future__ import annotations

from typing import Any

import pytest

from functions.catalog import CATALOG, Route
from functions.gateway import create_gateway
from tests.functions.client import Configure, FunctionClient, Functions, error_of, submit

# One request per route, and the status its function answers it with on a fresh database.
PROBES: dict[str, tuple[Any, int]] = {
    "POST /jobs": ({"type": "noop"}, 201),
    "POST /jobs/add-job": ({"type": "noop"}, 201),
    "POST /jobs/bulk": ({"jobs": [{"type": "noop"}]}, 201),
    "GET /jobs": (None, 200),
    "GET /jobs/{job_id}": (None, 200),
    "GET /recurring": (None, 200),
    "GET /openapi.json": (None, 200),
    "POST /jobs/update": ({"action": "retry", "ids": [1]}, 200),
    "GET /jobs/update": (None, 405),
    "GET /queues": (None, 200),
    "PUT /queues/{queue}": ({"paused": False, "max_running": 3}, 200),
    "POST /queues/{queue}/pause": (None, 200),
    "POST /queues/{queue}/resume": (None, 200),
    "POST /ticks/schedule": ({"budget_seconds": 1}, 200),
    "POST /ticks/work": ({"budget_seconds": 0.2}, 200),
    "GET /dlq": (None, 200),
    "GET /metrics": (None, 200),
    # The dashboard (no API_TOKEN: every visitor is in), HTML; a POST without its form's
    # CSRF token is refused, and a login when there is nothing to log into goes on to it.
    "GET /dashboard": (None, 200),
    "GET /dashboard/jobs": (None, 200),
    "GET /dashboard/jobs/{job_id}": (None, 200),
    "GET /dashboard/dlq": (None, 200),
    "GET /dashboard/login": (None, 303),
    "POST /dashboard/login": (None, 303),
    "POST /dashboard/logout": (None, 403),
    "POST /dashboard/actions": (None, 403),
}
ROUTES = [(function.name, route) for function in CATALOG.functions for route in function.routes]


def gateway() -> FunctionClient:
    """The gateway of every function; it reads MAX_PAYLOAD_BYTES when it is made."""
    return FunctionClient(create_gateway(CATALOG))


def probe_path(functions: Functions, route: Route) -> str:
    """``route``'s path for its probe: a job just submitted, queue ``mail``."""
    job_id = submit(functions, type="noop")["id"]
    return route.path.replace("{job_id}", str(job_id)).replace("{queue}", "mail")


def test_there_is_a_probe_for_every_route_of_the_catalog() -> None:
    assert {route.key for _, route in ROUTES} == set(PROBES)


@pytest.mark.parametrize(("name", "route"), ROUTES, ids=[r.key for _, r in ROUTES])
def test_the_gateway_answers_each_route_as_the_function_it_names(
    functions: Functions, name: str, route: Route
) -> None:
    body, status = PROBES[route.key]
    path = probe_path(functions, route)

    through_gateway = gateway().request(route.method, path, json=body)
    direct = functions.target(name).request(route.method, path, json=body)

    assert through_gateway.status_code == direct.status_code == status, through_gateway.text
    assert through_gateway.mimetype == direct.mimetype
    if direct.mimetype != "application/json":
        return  # a page or the metrics: what they show is tested where they are
    assert set(through_gateway.get_json()) == set(direct.get_json())
    if status >= 400:
        assert through_gateway.get_json() == direct.get_json()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/nothing"), ("GET", "/jobs/1/attempts"), ("POST", "/ticks")],
)
def test_the_gateway_answers_an_unknown_path_with_404_json_naming_it(
    functions: Functions, method: str, path: str
) -> None:
    response = gateway().request(method, path)

    assert response.status_code == 404
    assert error_of(response) == {
        "code": "not_found",
        "message": f"no route {method} {path}; see GET /openapi.json for the API",
        "field": "path",
    }


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/jobs", ["GET", "POST"]),
        ("PUT", "/jobs/bulk", ["GET", "POST"]),  # GET /jobs/bulk is GET /jobs/{job_id}
        ("DELETE", "/jobs/1", ["GET"]),
        ("GET", "/ticks/work", ["POST"]),
    ],
)
def test_the_gateway_answers_a_wrong_method_with_405_json_naming_the_allowed_ones(
    functions: Functions, method: str, path: str, allowed: list[str]
) -> None:
    response = gateway().request(method, path)

    assert response.status_code == 405
    assert error_of(response) == {
        "code": "method_not_allowed",
        "message": f"{method} {path} is not allowed; use {' or '.join(allowed)}",
        "field": "method",
    }
    automatic = {"OPTIONS", "HEAD"} if "GET" in allowed else {"OPTIONS"}
    assert set(response.headers["Allow"].split(", ")) == {*allowed, *automatic}


@pytest.mark.parametrize("path", ["/jobs/bulk", "/jobs/add-job"])
def test_a_get_of_a_post_only_path_under_jobs_is_a_405_not_a_job_id(
    functions: Functions, path: str
) -> None:
    response = gateway().get(path)

    assert response.status_code == 405
    assert error_of(response)["field"] == "method"


def test_the_gateway_refuses_a_body_over_max_payload_bytes_with_413(
    functions: Functions, configure: Configure
) -> None:
    configure(MAX_PAYLOAD_BYTES="100")

    response = gateway().post("/jobs", json={"type": "noop", "payload": {"pad": "x" * 100}})

    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


API_WRITES = [
    (name, route)
    for name, route in ROUTES
    if route.method != "GET" and not route.path.startswith("/dashboard")
]


@pytest.mark.parametrize(("name", "route"), API_WRITES, ids=[r.key for _, r in API_WRITES])
def test_a_query_parameter_on_a_route_that_reads_none_is_a_400_naming_it(
    functions: Functions, name: str, route: Route
) -> None:
    body, _ = PROBES[route.key]
    path = probe_path(functions, route)
    before = functions.list_jobs.get("/jobs").get_json()

    response = gateway().request(route.method, path, json=body, query={"foo": "1"})

    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == "foo"
    assert "query parameter" in error_of(response)["message"]
    assert functions.list_jobs.get("/jobs").get_json() == before  # nothing changed
