"""functions/openapi.json: a valid OpenAPI 3.1 document of exactly the routes deployed.

Every answer of every function test is checked against it by ``FunctionClient``; the tests
here show that this check refuses what the document does not describe.
"""

from __future__ import annotations

from typing import Any

import flask
import pytest
from openapi_core.exceptions import OpenAPIError
from openapi_spec_validator import validate

from functions.catalog import CATALOG
from tests.functions.client import FunctionClient, raw_document

A_JOB: dict[str, Any] = {
    "id": 1,
    "type": "noop",
    "queue": "default",
    "status": "CREATED",
    "priority": 0,
    "payload": {},
    "run_at": "2030-01-01T00:00:00Z",
    "attempts": 0,
    "max_attempts": 5,
    "last_error": None,
    "result": None,
    "locked_until": None,
    "idempotency_key": None,
    "concurrency_key": None,
    "created_at": "2030-01-01T00:00:00Z",
    "updated_at": "2030-01-01T00:00:00Z",
    "started_at": None,
    "finished_at": None,
    "not_after": None,
    "callback_url": None,
    "recurring": None,
}


def answering(body: Any, status: int) -> FunctionClient:
    """A client of an app answering every request with ``body`` (a str is sent as HTML)."""
    app = flask.Flask("fake")
    html = isinstance(body, str)
    text = body if html else flask.json.dumps(body)
    mimetype = "text/html" if html else "application/json"
    app.add_url_rule(
        "/<path:path>",
        view_func=lambda path: flask.Response(text, status=status, mimetype=mimetype),
        methods=["GET", "POST"],
    )
    return FunctionClient(app)


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(raw_document())
    assert raw_document()["openapi"].startswith("3.1")


def test_the_document_has_exactly_the_routes_of_the_catalog() -> None:
    deployed = {
        (route.method.lower(), route.path)
        for function in CATALOG.functions
        for route in function.routes
    }
    documented = {
        (method, path) for path, item in raw_document()["paths"].items() for method in item
    }

    assert documented == deployed


def test_the_check_accepts_an_answer_the_document_describes() -> None:
    response = answering(A_JOB, 201).post("/jobs", json={"type": "noop"})

    assert response.status_code == 201


NEW_JOB = {"type": "noop"}
AN_ERROR = {"code": "invalid", "message": "m", "field": "type"}
# (what is wrong, the answer, its status, the request: method, path and body)
WRONG_ANSWERS: list[tuple[str, Any, int, str, str, Any]] = [
    ("a field of the wrong type", {**A_JOB, "id": "1"}, 201, "POST", "/jobs", NEW_JOB),
    ("a run_at that is null", {**A_JOB, "run_at": None}, 201, "POST", "/jobs", NEW_JOB),
    ("an unknown status", {**A_JOB, "status": "DONE"}, 201, "POST", "/jobs", NEW_JOB),
    ("a page without next_cursor", {"jobs": []}, 200, "GET", "/jobs", None),
    ("an error that is a string", {"error": "bad"}, 400, "POST", "/jobs", {}),
    (
        "an error field that is a number",
        {"error": {**AN_ERROR, "field": 1}},
        400,
        "POST",
        "/jobs",
        {},
    ),
    ("an unknown error code", {"error": {**AN_ERROR, "code": "oops"}}, 400, "POST", "/jobs", {}),
    ("an undocumented status", A_JOB, 418, "POST", "/jobs", NEW_JOB),
    ("GET /jobs/update that works", {"updated": 1}, 200, "GET", "/jobs/update", None),
    ("a 500", {"error": {**AN_ERROR, "code": "internal"}}, 500, "GET", "/jobs", None),
    ("an HTML page", "<html>oops</html>", 400, "POST", "/jobs", {}),
    ("an undocumented path that works", {"ok": True}, 200, "GET", "/nothing", None),
    ("accepting what the document forbids", A_JOB, 201, "POST", "/jobs", {**NEW_JOB, "x": 1}),
]


@pytest.mark.parametrize(
    ("answer", "status", "method", "path", "body"),
    [pytest.param(*case, id=name) for name, *case in WRONG_ANSWERS],
)
def test_the_check_refuses_an_answer_the_document_does_not_describe(
    answer: Any, status: int, method: str, path: str, body: Any
) -> None:
    client = answering(answer, status)

    with pytest.raises((AssertionError, OpenAPIError)):
        client.request(method, path, json=body)
