"""gunicorn hooks of the local stack (``--config python:local.gunicorn_conf``).

A body over MAX_PAYLOAD_BYTES is refused unread (413), and gunicorn drains at most 64 KiB of
an unread body before it closes the connection. Without a word that close breaks the client's
next request on a kept-alive connection; marked here before the app runs, the 413 says
``Connection: close`` and the client opens a new one. A chunked body's size is not known up
front, so it is marked too: its connection serves that one request.
"""

from __future__ import annotations

from typing import Any

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
