"""Request bodies: read within a size and a time bound, parsed as strict JSON, and what a
refusal left unread discarded, so that the caller's next request on the connection works.

The one home of body handling; functions/_http.py calls it with the settings.
"""

from __future__ import annotations

import json
import math
import socket
import time
from typing import Any

import flask
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from common.errors import PayloadTooLarge, RequestTimeout, ValidationError

CHUNK_BYTES = 64 * 1024
DISCARD_SECONDS = 5.0
MAX_JSON_DEPTH = 64  # a job's payload is data, not a tree of this depth; the parser recurses


def read_body(request: flask.Request, limit: int, seconds: float) -> bytes:
    """The whole body, refused (413) past ``limit`` bytes or (408) when it takes longer than
    ``seconds`` to arrive: a client sending a byte a second does not hold a thread for long."""
    if (request.content_length or 0) > limit:
        raise _too_large(limit)
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = _read_chunk(request, min(CHUNK_BYTES, limit + 1 - size), deadline)
        except RequestEntityTooLarge:  # the gateway's MAX_CONTENT_LENGTH, on a chunked body
            raise _too_large(limit) from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)


def discard_unread(request: flask.Request, limit: int) -> None:
    """Read and drop what is left of the body, up to ``limit`` bytes and DISCARD_SECONDS: the
    server would otherwise close the connection under the client's feet (gunicorn drains only
    64 KiB), and the client's next request on it would fail."""
    if (request.content_length or 0) > limit:
        return  # the server closes this connection (local/gunicorn_conf.py)
    deadline = time.monotonic() + DISCARD_SECONDS
    discarded = 0
    try:
        while discarded <= limit:
            chunk = _read_chunk(request, CHUNK_BYTES, deadline)
            if not chunk:
                return
            discarded += len(chunk)
    except (RequestTimeout, HTTPException, OSError, ValueError):
        return  # the server closes this connection; the answer is already made


def parse_json_object(raw: bytes, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object: strict JSON (no NaN or Infinity, numbers that fit a double),
    nested at most MAX_JSON_DEPTH deep, its strings valid Unicode without NUL; 400 otherwise."""
    if not raw.strip() and optional:
        return {}
    try:
        body = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", field="body") from None
    _check_values(body)
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    return body


def _read_chunk(request: flask.Request, size: int, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise RequestTimeout()
    sock = request.environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        sock.settimeout(remaining)
    try:
        return bytes(request.stream.read(size))
    except TimeoutError:
        raise RequestTimeout() from None
    finally:
        if isinstance(sock, socket.socket):
            sock.settimeout(None)


def _refuse_constant(name: str) -> Any:
    raise ValidationError(f"the body is not valid JSON: {name} is not a number", field="body")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValidationError(f"the body holds a number too large: {text[:40]}", field="body")
    return value


def _check_values(body: Any) -> None:
    """Walk the parsed body without recursion: its depth, and every string and key."""
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            _check_string(value)
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_string(key)
                pending.append((item, depth + 1))


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            "the body holds a string that is not valid Unicode (a lone surrogate such as \\ud800)",
            field="body",
        ) from None
    if "\x00" in text:
        raise ValidationError("the body holds a NUL character (\\u0000)", field="body")


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the body is over MAX_PAYLOAD_BYTES ({limit} bytes)", field="body")


def _too_deep() -> ValidationError:
    return ValidationError(
        f"the body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels", field="body"
    )
