"""gunicorn hooks of the local stack (``--config python:local.gunicorn_conf``).

A body over MAX_PAYLOAD_BYTES is refused unread (413), and gunicorn drains at most 64 KiB of
an unread body before it closes the connection. Without a word that close breaks the client's
next request on a kept-alive connection; marked here before the app runs, the 413 says
``Connection: close`` and the client opens a new one. A chunked body's size is not known up
front, so it is marked too: its connection serves that one request. And gunicorn's own error
answers are the API's JSON errors, not HTML pages.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util

from common.config import current_settings


def pre_request(worker: Any, req: Any) -> None:
    """Close the connection after a request whose body may be refused unread."""
    length = _content_length(req)
    chunked = any(
        name == "TRANSFER-ENCODING" and "chunked" in value.lower() for name, value in req.headers
    )
    if chunked or (length is not None and length > current_settings().max_payload_bytes):
        req.must_close = True


def _content_length(req: Any) -> int | None:
    for name, value in req.headers:
        if name == "CONTENT-LENGTH":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# gunicorn answers what it cannot parse (a request line over 4094 bytes: 414, headers too large:
# 431, a malformed request: 400) with an HTML page of its own; the API's clients get the API's
# JSON error instead. gunicorn's workers call util.write_error for every such answer.
ERROR_CODES = {400: "invalid", 403: "forbidden", 414: "uri_too_long", 431: "headers_too_large"}


def write_json_error(sock: Any, status: int, reason: str, message: str) -> None:
    """gunicorn's util.write_error, writing ``{"error": {...}}`` as every other answer."""
    error = {"code": ERROR_CODES.get(status, "internal"), "message": message, "field": None}
    body = json.dumps({"error": error}) + "\n"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, (head + body).encode("latin1", "replace"))


util.write_error = write_json_error
