"""Request bodies: read within a size and a time bound, parsed as strict JSON, and what a
refusal left unread discarded, so that the caller's next request on the connection works.

The one home of body handling; functions/_http.py calls it with the settings.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import flask
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from common.errors import PayloadTooLarge, RequestTimeout, ValidationError

CHUNK_BYTES = 64 * 1024
DISCARD_SECONDS = 5.0
EXPIRED_SECONDS = 0.001  # the socket timeout once a body's time is up
TIMED_OUT = "skiplock.body_timed_out"  # in the WSGI environ
READ_TO_END = "skiplock.body_read_to_end"  # in the WSGI environ: nothing is left to discard
MAX_JSON_DEPTH = 64  # a job's payload is data, not a tree of this depth; the parser recurses


def read_body(request: flask.Request, limit: int, seconds: float) -> bytes:
    """The whole body, refused (413) past ``limit`` bytes or (408) when it takes longer than
    ``seconds`` to arrive: a client sending a byte a second does not hold a thread for long."""
    if (request.content_length or 0) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    with _deadline(request, seconds) as deadline:
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
    if (request.content_length or 0) > limit or request.environ.get(TIMED_OUT):
        return  # the server closes this connection (local/gunicorn_conf.py, or a slow client)
    if request.environ.get(READ_TO_END):
        return
    discarded = 0
    try:
        with _deadline(request, DISCARD_SECONDS) as deadline:
            while discarded <= limit:
                chunk = _read_chunk(request, CHUNK_BYTES, deadline)
                if not chunk:
                    return
                discarded += len(chunk)
    except (RequestTimeout, HTTPException, OSError, ValueError):
        return  # the server closes this connection; the answer is already made


@contextmanager
def _deadline(request: flask.Request, seconds: float) -> Iterator[float]:
    """The moment reading must end, enforced on gunicorn's socket: gunicorn reads a body in a
    loop of recv calls, each of which a trickling client satisfies with one byte, so at the
    deadline the socket's timeout is cut short (by the one alarm thread) and the next recv
    times out."""
    deadline = time.monotonic() + seconds
    sock = request.environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        yield deadline
        return
    sock.settimeout(seconds)
    alarm = _ALARMS.set(deadline, sock)
    try:
        yield deadline
    finally:
        _ALARMS.cancel(alarm)
        sock.settimeout(None)


class _Alarms:
    """One thread for the whole process that cuts the timeout of sockets whose body deadline
    has passed: a thread (a threading.Timer) per request would cost more than the request."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._due: list[tuple[float, int, socket.socket]] = []  # a heap, by deadline
        self._live: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def set(self, deadline: float, sock: socket.socket) -> int:
        with self._lock:
            alarm = next(self._ids)
            earliest = not self._due or deadline < self._due[0][0]
            heapq.heappush(self._due, (deadline, alarm, sock))
            self._live.add(alarm)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="body-alarms", daemon=True)
                self._thread.start()
            if earliest:  # the thread sleeps until the earliest deadline; a later one can wait
                self._lock.notify()
            return alarm

    def cancel(self, alarm: int) -> None:
        with self._lock:
            self._live.discard(alarm)

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._due and self._due[0][1] not in self._live:
                    heapq.heappop(self._due)  # cancelled
                if not self._due:
                    self._lock.wait()
                    continue
                deadline, alarm, sock = self._due[0]
                if time.monotonic() < deadline:
                    self._lock.wait(deadline - time.monotonic())
                    continue
                heapq.heappop(self._due)
                self._live.discard(alarm)
                with contextlib.suppress(OSError):  # closed meanwhile
                    sock.settimeout(EXPIRED_SECONDS)


_ALARMS = _Alarms()


def parse_json_object(raw: bytes, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object: no NaN or Infinity (Python's parser reads them, and 1e309 as
    Infinity), nested at most MAX_JSON_DEPTH deep, its strings valid Unicode without NUL (no
    database stores those); 400 naming the field otherwise."""
    if not raw.strip() and optional:
        return {}
    try:
        body = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", field="body") from None
    _check_values(body)
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    return body


def _read_chunk(request: flask.Request, size: int, deadline: float) -> bytes:
    if time.monotonic() >= deadline:
        raise _timed_out(request)
    try:
        chunk = bytes(request.stream.read(size))
    except (TimeoutError, ClientDisconnected):  # werkzeug reports a timeout as a disconnect
        if time.monotonic() < deadline - 0.1:
            raise ValidationError(
                "the body ended before its Content-Length", field="body"
            ) from None
        raise _timed_out(request) from None
    if not chunk:  # ``size`` is never 0 here: nothing read is the body's end
        request.environ[READ_TO_END] = True
    return chunk


def _check_values(body: Any) -> None:
    """Walk the parsed body without recursion, naming the field of the first value that is no
    JSON: a number out of range (1e309, NaN), a string that is not Unicode or holds a NUL, or a
    value nested too deep."""
    pending: list[tuple[Any, str, int]] = [(body, "", 1)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            _check_string(value, path)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(
                f"{path or 'the body'} must be a finite number (JSON has no NaN or Infinity,"
                " and 1e309 is out of range)",
                field=path or "body",
            )
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep(path)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                child = f"{path}[{key}]" if isinstance(key, int) else _member(path, key)
                pending.append((item, child, depth + 1))


def _member(path: str, key: str) -> str:
    _check_string(key, path or "body")
    return f"{path}.{key}" if path else key


def _check_string(text: str, path: str) -> None:
    field = path or "body"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"{field} is not valid Unicode: it holds a lone surrogate (such as \\ud800)",
            field=field,
        ) from None
    if "\x00" in text:
        raise ValidationError(f"{field} holds a NUL character (\\u0000)", field=field)


def _timed_out(request: flask.Request) -> RequestTimeout:
    request.environ[TIMED_OUT] = True  # a slow client's rest is not waited for a second time
    return RequestTimeout()


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the body is over MAX_PAYLOAD_BYTES ({limit} bytes)", field="body")


def _too_deep(path: str = "") -> ValidationError:
    return ValidationError(
        f"the body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels",
        field=path or "body",
    )
