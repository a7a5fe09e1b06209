"""One request, asked of a function two ways: through its Lambda handler with an HTTP API
event, and through functions-framework's test client; answers normalized for comparison."""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

import flask
import functions_framework

from functions import _http, aws_lambda
from functions.catalog import CATALOG, Catalog
from tests.infra.events import _route_key, http_event

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "main.py"
API_TOKEN = "api-token-for-aws-tests"
SCHEDULER_TOKEN = "scheduler-token-for-aws-tests"
Answer = tuple[int, Any]


def function_of(catalog: Catalog, method: str, path: str) -> str:
    """The name of the function an HTTP API would route ``method path`` to."""
    key = _route_key(catalog, method, path)
    return next(f.name for f in catalog.functions for r in f.routes if r.key == key)


def via_lambda(method: str, path: str, **options: Any) -> Answer:
    """Ask through the function's Lambda handler, as API Gateway would."""
    handler = getattr(aws_lambda, function_of(CATALOG, method, path))
    response = handler(http_event(CATALOG, method, path, **options), None)
    headers = {name.lower(): value for name, value in response["headers"].items()}
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    kind = headers.get("content-type", "").split(";")[0]
    if kind != "application/json":  # a dashboard page or the metrics: compared by their kind
        assert kind in ("text/html", "text/plain"), headers
        return response["statusCode"], {"content_type": kind}
    return response["statusCode"], json.loads(body)


def via_framework(method: str, path: str, **options: Any) -> Answer:
    """Ask through functions-framework's test client, as Cloud Run functions would."""
    target = function_of(CATALOG, method, path)
    token = options.get("token")
    client = _framework_app(target).test_client()
    response = client.open(
        path,
        method=method,
        data=None if options.get("body") is None else json.dumps(options["body"]),
        content_type="application/json",
        query_string=options.get("query"),
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    if response.mimetype != "application/json":
        return response.status_code, {"content_type": response.mimetype}
    return response.status_code, response.get_json()


@cache
def _framework_app(target: str) -> flask.Flask:
    return functions_framework.create_app(target=target, source=str(SOURCE))


def reset_caches() -> None:
    """Forget settings, engine, registry and Lambda apps, so the next call reads the env."""
    if _http.engine.cache_info().currsize:
        _http.engine().dispose()
    for cached in (_http.settings, _http.engine, _http.registry, aws_lambda._wsgi_handler):
        cached.cache_clear()


_VOLATILE_STRINGS = {"worker_id", "locked_by", "next_cursor", "cursor"}


def normalized(value: Any, key: str = "") -> Any:
    """``value`` with what differs between two identical runs (ids, times, workers) masked."""
    if isinstance(value, dict):
        return {k: normalized(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalized(v, key) for v in value]
    if value is None:
        return None
    if key in ("id", "ids") or (key.endswith("_id") and isinstance(value, int)):
        return "<id>"
    if key.endswith(("_at", "_until")) or key in _VOLATILE_STRINGS:
        return "<varies>"
    return value
