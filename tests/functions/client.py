"""Calling the functions as deployed: functions-framework's own app and test client.

Every request goes through ``FunctionClient``, which checks the answer against
functions/openapi.json: never a 500, a status and body the document gives for the path and
method the test used, and, when the request was accepted, a request the document allows too.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import flask
import functions_framework
import jsonschema
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from werkzeug.test import EnvironBuilder, TestResponse
from werkzeug.wrappers import Request

from common.config import current_settings
from common.handlers.catalog import default_registry
from functions import _http

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "functions" / "main.py"
DOCUMENT = REPO / "functions" / "openapi.json"
Configure = Callable[..., None]  # the configure fixture: configure(API_TOKEN="t")


@cache
def document() -> OpenAPI:
    return OpenAPI.from_file_path(str(DOCUMENT))


@cache
def raw_document() -> dict[str, Any]:
    return dict(json.loads(DOCUMENT.read_text()))


def server_url() -> str:
    """Requests go to the document's server, so that the document's paths match them."""
    return str(raw_document()["servers"][0]["url"])


def check_against_document(request: Request, response: TestResponse) -> None:
    """Fail unless ``response`` is an answer functions/openapi.json allows for ``request``."""
    status = response.status_code
    assert status != 500, f"{request.method} {request.path} answered 500: {response.text}"
    page = request.path.startswith("/dashboard") and response.mimetype == "text/html"
    if not page and (status >= 400 or response.mimetype != "text/plain"):  # /metrics: text
        assert response.mimetype == "application/json", response.mimetype
    openapi_request = WerkzeugOpenAPIRequest(request)
    try:
        document().validate_response(openapi_request, WerkzeugOpenAPIResponse(response))
    except (PathNotFound, OperationNotFound):
        # A function answers any path and method; those the document lacks must be refused.
        assert status in (404, 405), f"undocumented {request.method} {request.path}: {status}"
        jsonschema.validate(response.get_json(), raw_document()["components"]["schemas"]["Error"])
    if 200 <= status < 300:  # what a function accepts, the document must allow
        with warnings.catch_warnings():  # allowEmptyValue: deprecated, yet how GET /jobs works
            warnings.filterwarnings("ignore", "Use of allowEmptyValue", DeprecationWarning)
            document().validate_request(openapi_request)


class FunctionClient:
    """A test client for one app whose every answer is checked against the document."""

    def __init__(self, app: flask.Flask) -> None:
        self.client = app.test_client()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: str | bytes | None = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> TestResponse:
        """Send one request: ``json`` is encoded as JSON, ``data`` is sent as it is."""
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if json is not None:
            data = _dumps(json)
            all_headers.setdefault("Content-Type", "application/json")
        options: dict[str, Any] = {
            "method": method,
            "base_url": server_url(),
            "data": data,
            "query_string": query,
            "headers": all_headers,
        }
        response = self.client.open(path, **options)
        # The app consumed its request's body; the document is checked against a twin.
        check_against_document(Request(EnvironBuilder(path, **options).get_environ()), response)
        return response

    def get(self, path: str, **options: Any) -> TestResponse:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> TestResponse:
        return self.request("POST", path, **options)


def make_function_app(target: str) -> flask.Flask:
    """A new functions-framework app serving ``target`` of functions/main.py.

    Every target comes from the one main.py: functions-framework registers a source under its
    file stem, so two different files called main.py would collide in one process.
    """
    return functions_framework.create_app(target=target, source=str(SOURCE))


@cache
def function_app(target: str) -> flask.Flask:
    """One app per target for the session; the functions read settings through _http."""
    return make_function_app(target)


class Functions:
    """Each function behind its own functions-framework test client."""

    def __init__(self) -> None:
        self.submit_job = self.target("submit_job")
        self.list_jobs = self.target("list_jobs")
        self.update_jobs = self.target("update_jobs")
        self.schedule_tick = self.target("schedule_tick")
        self.worker_tick = self.target("worker_tick")
        self.queues = self.target("queues")
        self.metrics = self.target("metrics")
        self.dashboard = self.target("dashboard")

    @staticmethod
    def target(name: str) -> FunctionClient:
        return FunctionClient(function_app(name))


def clear_http_caches() -> None:
    """Forget the process's settings, engine and registry, closing the engine's connections."""
    if _http.engine.cache_info().currsize:
        _http.engine().dispose()
    for cached in (_http.engine, _http.configure_logs, current_settings, default_registry):
        cached.cache_clear()


def submit(functions: Functions, **job: Any) -> dict[str, Any]:
    """Enqueue one job through POST /jobs and return it as answered; it must be created."""
    response = functions.submit_job.post("/jobs", json=job)
    assert response.status_code == 201, response.text
    return dict(response.get_json())


def error_of(response: TestResponse) -> dict[str, Any]:
    """The ``error`` object of an error answer."""
    return dict(response.get_json()["error"])


def _dumps(body: Any) -> str:
    return json.dumps(body)
