"""Lambda events as AWS sends them: API Gateway HTTP API (payload v2) and EventBridge rules."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from functions.catalog import Catalog

API_ID = "a1b2c3d4e5"
HOST = f"{API_ID}.execute-api.us-east-1.amazonaws.com"


def http_event(
    catalog: Catalog,
    method: str,
    path: str,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
    token: str | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """The payload v2 event an HTTP API sends for ``method path`` (which must be routed)."""
    route_key = _route_key(catalog, method, path)
    raw_body = "" if body is None else json.dumps(body)
    headers = {
        "accept": "application/json",
        "content-length": str(len(raw_body.encode())),
        "host": HOST,
        "user-agent": "pytest",
        "x-amzn-trace-id": "Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if body is not None:
        headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = f"Bearer {token}"
    raw_query = urlencode(query or {})
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": _request_context(method, path, route_key),
        "isBase64Encoded": base64_body,
        "body": base64.b64encode(raw_body.encode()).decode() if base64_body else raw_body,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(raw_query))
    parameters = _path_parameters(route_key.split(" ", 1)[1], path)
    if parameters:
        event["pathParameters"] = parameters
    return event


def _request_context(method: str, path: str, route_key: str) -> dict[str, Any]:
    return {
        "accountId": "123456789012",
        "apiId": API_ID,
        "domainName": HOST,
        "domainPrefix": API_ID,
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.7",
            "userAgent": "pytest",
        },
        "requestId": "JKJaXmPLvHcESHA=",
        "routeKey": route_key,
        "stage": "$default",
        "time": "29/Nov/2026:12:00:00 +0000",
        "timeEpoch": 1796040000000,
    }


def _route_key(catalog: Catalog, method: str, path: str) -> str:
    """The route an HTTP API matches ``method path`` to: the literal one before a {parameter}."""
    matches = sorted(
        (route.path.count("{"), f"{route.method} {route.path}")
        for function in catalog.functions
        for route in function.routes
        if route.method == method and _path_parameters(route.path, path) is not None
    )
    if not matches:
        raise KeyError(f"no route for {method} {path}")
    return matches[0][1]


def _path_parameters(template: str, path: str) -> dict[str, str] | None:
    """``path``'s values of ``template``'s {parameters}, or None when it does not match."""
    names = re.findall(r"\{(\w+)\}", template)
    pattern = re.sub(r"\\\{\w+\\\}", "([^/]+)", re.escape(template))
    match = re.fullmatch(pattern, path)
    return dict(zip(names, match.groups(), strict=True)) if match else None


def default_scheduled_event() -> dict[str, Any]:
    """What an EventBridge rule without a fixed input sends."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-29T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/skiplock-worker-tick"],
        "detail": {},
    }
