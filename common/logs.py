"""Logs: one line per transition (from the event stream) and per HTTP request, as text for a
person or, with LOG_FORMAT=json, one JSON object per line as Cloud Logging and most log
platforms read them (``time``, ``severity``, ``message``, ``logger``, then the record's fields).

What is logged never holds a token or a payload: a job event carries the job's ids, status,
outcome, duration, worker and error; a request its method, URL, status and latency.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from common.events import TransitionEvent, stream

jobs_log = logging.getLogger("skiplock.jobs")
http_log = logging.getLogger("skiplock.http")
_lock = threading.Lock()
_unsubscribe: Callable[[], None] | None = None


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (a test's capture, say)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr


class CloudJsonFormatter(JsonFormatter):
    """One JSON object per record: ``time`` in RFC 3339 UTC, ``severity`` as Cloud Logging
    names it, ``message``, ``logger``, and whatever the record was given as ``extra``."""

    def __init__(self) -> None:
        super().__init__("%(message)s", json_ensure_ascii=False)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = rfc3339(record.created)
        log_data["severity"] = "WARNING" if record.levelname == "WARN" else record.levelname
        super().add_fields(log_data, record, message_dict)
        log_data["logger"] = record.name
        if record.levelno >= logging.CRITICAL:
            log_data["severity"] = "CRITICAL"


def rfc3339(timestamp: float) -> str:
    """A POSIX time as RFC 3339 in UTC with milliseconds: ``2026-12-08T09:30:00.123Z``."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``log_format``: "json", or "text"."""
    if log_format == "json":
        return CloudJsonFormatter()
    return logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")


def configure(log_format: str = "text", level: str = "INFO") -> None:
    """Send the process's logs to stderr in ``log_format`` from ``level`` up, and log every
    transition of the event stream (at INFO: a higher level subscribes no listener, so the
    engine builds no events for it). Calling it again replaces the earlier configuration."""
    global _unsubscribe
    handler = StderrHandler()
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    with _lock:
        root.handlers = [handler]  # a platform's own (Lambda's) would write every line twice
        root.setLevel(level)
        logging.captureWarnings(True)  # or Python prints them to stderr as plain text
        wanted = jobs_log.isEnabledFor(logging.INFO)
        if wanted and _unsubscribe is None:
            _unsubscribe = stream.subscribe(log_transition)
        elif not wanted and _unsubscribe is not None:
            _unsubscribe()
            _unsubscribe = None


def reset() -> None:
    """Stop logging transitions and leave the root logger as Python starts it (for tests)."""
    global _unsubscribe
    with _lock:
        if _unsubscribe is not None:
            _unsubscribe()
            _unsubscribe = None
        root = logging.getLogger()
        root.handlers = [h for h in root.handlers if not isinstance(h, StderrHandler)]
        root.setLevel(logging.WARNING)


def log_transition(event: TransitionEvent) -> None:
    """One line for one committed status change."""
    fields = transition_fields(event)
    text = f"job {event.job_id} ({event.type}, {event.queue}) {event.transition}:"
    text += f" {event.from_status} -> {event.to_status}"
    if event.outcome is not None:
        text += f", attempt {event.attempt} {event.outcome}"
    if fields["duration_ms"] is not None:
        text += f" in {fields['duration_ms']:g} ms"
    if event.error:
        text += f": {event.error}"
    level = logging.WARNING if event.to_status == "DLQ" else logging.INFO
    jobs_log.log(level, text, extra=fields)


def transition_fields(event: TransitionEvent) -> dict[str, Any]:
    """The fields of a job event's log line."""
    duration = event.duration_seconds
    return {
        "job_id": event.job_id,
        "queue": event.queue,
        "type": event.type,
        "attempt": event.attempt,
        "from_status": str(event.from_status),
        "to_status": str(event.to_status),
        "outcome": None if event.outcome is None else str(event.outcome),
        "duration_ms": None if duration is None else round(duration * 1000, 3),
        "worker_id": event.worker_id,
        "error": event.error,
    }


def log_request(method: str, url: Callable[[], str], status: int, latency_seconds: float) -> None:
    """One line for one answered HTTP request, with Cloud Logging's ``httpRequest`` fields.

    ``url`` is asked for only when the line is written: werkzeug builds a request's URL at a
    cost that a gateway logging at WARNING would pay on every request for nothing."""
    level = logging.ERROR if status >= 500 else logging.INFO
    if not http_log.isEnabledFor(level):
        return
    request = {
        "requestMethod": method,
        "requestUrl": url(),
        "status": status,
        "latency": f"{latency_seconds:.6f}s",
    }
    text = f"{method} {request['requestUrl']} {status} {latency_seconds * 1000:.1f} ms"
    http_log.log(level, text, extra={"httpRequest": request})
