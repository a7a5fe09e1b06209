"""What every function shares: settings, the engine, auth, JSON in and out, errors as JSON.

Errors are turned into ``{"error": {"code", "message", "field"}}`` here and only here.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeGuard

import flask
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from common.config import current_settings
from common.db import availability_error, make_engine
from common.errors import (
    MethodNotAllowed,
    SkiplockError,
    ValidationError,
)
from common.events import stream
from common.handlers.catalog import default_registry
from common.logs import configure, log_request
from common.recurring_file import Recurring, load
from functions import access, body

log = logging.getLogger("skiplock.http")
EVENTS_DRAIN_SECONDS = 1.0
View = Callable[[flask.Request], flask.Response | tuple[Any, int]]


# The process's settings and job types: the same ones common.enqueue uses by default.
settings = current_settings
registry = default_registry


@cache
def engine() -> Engine:
    """One engine (and connection pool) per function instance, made on first use."""
    return make_engine(settings().database_url, settings().database_timeouts)


def recurring_schedules() -> tuple[Recurring, ...]:
    """RECURRING_FILE's schedules, read on every call so that a changed file counts at once;
    a file that cannot be used is a 503 (Misconfigured) naming its table and field."""
    return load(settings().recurring_file, registry())


@cache
def configure_logs() -> None:
    """Logs as LOG_FORMAT and LOG_LEVEL say, once per process (common/logs.py)."""
    configure(settings().log_format, settings().log_level)


def serve(request: flask.Request, view: View, *, methods: set[str], tick: bool = False) -> Any:
    """Run ``view`` for an authorized request with an allowed method; any error becomes JSON.
    Each request is logged once it is answered."""
    configure_logs()
    started = time.perf_counter()
    answer = _serve(request, view, methods=methods, tick=tick)
    discard_unread(request)
    status = answer.status_code if isinstance(answer, flask.Response) else answer[1]
    log_request(request.method, lambda: request.url, status, time.perf_counter() - started)
    return answer


def _serve(request: flask.Request, view: View, *, methods: set[str], tick: bool) -> Any:
    try:
        if request.method not in methods:
            raise MethodNotAllowed(
                f"{request.method} is not allowed here; use {' or '.join(sorted(methods))}",
                field="method",
                allowed=tuple(sorted(methods)),
            )
        access.authorize(request, settings(), tick=tick)
        if request.method != "GET":  # only GET routes read the query (each its own parameters)
            reject_unknown(request.args, (), what="query parameter")
        return view(request)
    except SkiplockError as exc:
        return error_response(exc)
    except DBAPIError as exc:
        if (unavailable := availability_error(exc)) is not None:
            log.warning("%s: %s", unavailable.code, exc.orig)
            return error_response(unavailable)
        log.exception("database error")
        return error_response(SkiplockError())
    except SQLAlchemyError:
        log.exception("database error")
        return error_response(SkiplockError())
    except Exception:  # never a traceback in a response; the log has it
        log.exception("unexpected error")
        return error_response(SkiplockError())
    finally:
        # A serverless instance may be frozen once it has answered: hand the listeners what
        # this request changed first.
        if stream.active and not stream.drain(EVENTS_DRAIN_SECONDS):
            log.warning("transition listeners are behind; some events wait for the next request")


def json_body(request: flask.Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object (functions/body.py), within MAX_PAYLOAD_BYTES and
    REQUEST_BODY_SECONDS."""
    raw = body.read_body(request, settings().max_payload_bytes, settings().request_body_seconds)
    return body.parse_json_object(raw, optional=optional)


def discard_unread(request: flask.Request) -> None:
    """Drop what an answered request left of its body, so that its connection can serve the
    next request (functions/body.py)."""
    body.discard_unread(request, settings().max_payload_bytes)


def reject_unknown(
    body: Mapping[str, Any], allowed: Collection[str], prefix: str = "", *, what: str = "field"
) -> None:
    """400 naming the first (sorted) key of ``body`` that is not in ``allowed``, as ``prefix+key``.

    ``what`` names the kind of key in the message: "field", or "query parameter" for
    ``request.args``.
    """
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        name = prefix + unknown[0]
        known = ", ".join(sorted(allowed)) or "none"
        raise ValidationError(f"unknown {what} {name!r} (known: {known})", field=name)


def is_integer(value: object) -> TypeGuard[int]:
    """A JSON integer: an int, and not a bool (``True`` is an int to Python, not to JSON)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """A JSON number: an integer or a finite float (Python's json reads NaN and Infinity)."""
    return is_integer(value) or (isinstance(value, float) and math.isfinite(value))


def respond(body: Any, status: int = 200) -> flask.Response:
    """``body`` as JSON; the newline keeps a terminal's prompt off the answer's last line."""
    text = json.dumps(body, default=_json_default) + "\n"
    return flask.Response(text, status=status, mimetype="application/json")


def error_response(exc: SkiplockError) -> flask.Response:
    error = {"code": exc.code, "message": exc.message, "field": exc.field}
    response = respond({"error": error}, exc.status)
    if isinstance(exc, MethodNotAllowed) and exc.allowed:
        response.headers["Allow"] = ", ".join(exc.allowed)
    return response


def iso(moment: datetime | None) -> str | None:
    """A naive UTC time from the database as ISO-8601 with a Z."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
