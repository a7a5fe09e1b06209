"""What every function shares: settings, the engine, auth, JSON in and out, errors as JSON.

Errors are turned into ``{"error": {"code", "message", "field"}}`` here and only here.
"""

from __future__ import annotations

import hmac
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
    PayloadTooLarge,
    SkiplockError,
    Unauthorized,
    ValidationError,
)
from common.events import stream
from common.handlers.catalog import default_registry
from common.logs import configure, log_request
from common.recurring_file import Recurring, load

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
    status = answer.status_code if isinstance(answer, flask.Response) else answer[1]
    log_request(request.method, request.url, status, time.perf_counter() - started)
    return answer


def _serve(request: flask.Request, view: View, *, methods: set[str], tick: bool) -> Any:
    try:
        if request.method not in methods:
            raise MethodNotAllowed(
                f"{request.method} is not allowed here; use {' or '.join(sorted(methods))}",
                field="method",
            )
        authorize(request, tick=tick)
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


def authorize(request: flask.Request, *, tick: bool) -> None:
    """Require ``Bearer API_TOKEN`` when it is set; ticks may use SCHEDULER_TOKEN instead."""
    tokens = [settings().api_token] + ([settings().scheduler_token] if tick else [])
    expected = [token for token in tokens if token]
    if not expected:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    matches = [hmac.compare_digest(given.encode(), t.encode()) for t in expected]
    if scheme.lower() != "bearer" or not any(matches):
        raise Unauthorized(field="Authorization")


def json_body(request: flask.Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object, refusing bodies over MAX_PAYLOAD_BYTES."""
    limit = settings().max_payload_bytes
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"the body is over MAX_PAYLOAD_BYTES ({limit} bytes)", field="body")
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is over MAX_PAYLOAD_BYTES ({limit} bytes)", field="body")
    if not raw.strip() and optional:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", field="body") from None
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    return body


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
    return respond({"error": error}, exc.status)


def iso(moment: datetime | None) -> str | None:
    """A naive UTC time from the database as ISO-8601 with a Z."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
