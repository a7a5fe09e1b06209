"""The built-in ``webhook`` job type: POST a job's terminal status to its callback_url, signed.

Signature (Stripe's scheme): ``Skiplock-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>" keyed with WEBHOOK_SECRET>``; docs/WEBHOOKS.md shows a receiver's check.

Safety: only http(s); addresses that are not globally routable (loopback, private, link-local
and cloud metadata, shared, reserved) are refused unless WEBHOOK_ALLOW_PRIVATE, at submit and
again at delivery, where the address checked is the one connected to (DNS may have changed).
Redirects are not followed; only a short excerpt of the answer is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import time
from functools import partial
from typing import Any
from urllib.parse import SplitResult, urlsplit

import pydantic

from common.config import Settings
from common.errors import JobError, Misconfigured, PermanentJobError, ValidationError
from common.handlers.registry import Job, JobContext, Registry

WEBHOOK_TYPE = "webhook"
WEBHOOK_QUEUE = "webhooks"
WEBHOOK_MAX_ATTEMPTS = 8
SIGNATURE_HEADER = "Skiplock-Signature"
TIMEOUT_SECONDS = 10.0
EXCERPT_CHARS = 200
MAX_URL_CHARS = 2048
FIELD = "callback_url"


class WebhookPayload(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    url: str
    event: dict[str, Any]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Skiplock-Signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def check_url_form(url: object) -> None:
    """ValidationError on callback_url unless ``url`` is an absolute http(s) URL with a host."""
    ok = False
    if isinstance(url, str) and len(url) <= MAX_URL_CHARS:
        try:
            parts = urlsplit(url)
            ok = parts.scheme in {"http", "https"} and bool(parts.hostname) and _port_ok(parts)
        except ValueError:
            ok = False
    if not ok:
        raise ValidationError(
            f"{FIELD} must be an http:// or https:// URL with a host, at most"
            f" {MAX_URL_CHARS} characters",
            field=FIELD,
        )


def _port_ok(parts: SplitResult) -> bool:
    return parts.port is None or parts.port > 0  # .port raises ValueError when out of range


def check_callback(url: str, settings: Settings) -> None:
    """What a job's callback_url must be, whoever adds the job (common/enqueue.py, after
    ``NewJob.validate`` checked its form): one that can be signed (WEBHOOK_SECRET set, else
    503), to a host that resolves to addresses it may be sent to (400)."""
    if not settings.webhook_secret:
        raise Misconfigured(
            f"{FIELD} needs WEBHOOK_SECRET set: webhooks are signed with it", field=FIELD
        )
    check_destination(url, allow_private=settings.webhook_allow_private)


def check_destination(url: str, *, allow_private: bool) -> None:
    """ValidationError on callback_url if ``url``'s host resolves to an address not allowed."""
    check_url_form(url)
    host, port = _host_port(url)
    try:
        _resolve(host, port, allow_private)
    except OSError as exc:
        raise ValidationError(f"{FIELD}: {exc}", field=FIELD) from None


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """True if skiplock may connect to ``address``: a globally routable one, or any with
    WEBHOOK_ALLOW_PRIVATE."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return allow_private or (ip.is_global and not ip.is_multicast)


def _resolve(host: str, port: int, allow_private: bool) -> list[tuple[Any, ...]]:
    """Every address ``host`` resolves to; OSError if none, or any is not allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"host {host!r} does not resolve ({exc.strerror})") from None
    for info in infos:
        if not address_allowed(str(info[4][0]), allow_private=allow_private):
            raise OSError(
                f"host {host!r} resolves to {info[4][0]}, a private, loopback, link-local or"
                " reserved address (WEBHOOK_ALLOW_PRIVATE=true allows it)"
            )
    return infos


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


class _Refused(OSError):
    """The destination's address is not allowed."""


def _connection(url: str, allow_private: bool) -> http.client.HTTPConnection:
    """A connection that connects only to an address it has checked, the one it uses."""
    parts = urlsplit(url)
    host, port = _host_port(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(host, port, timeout=TIMEOUT_SECONDS)

    def connect(address: tuple[str, int], timeout: Any = None, source: Any = None) -> socket.socket:
        try:
            infos = _resolve(host, port, allow_private)
        except OSError as exc:
            raise _Refused(str(exc)) from None
        error: OSError = OSError(f"could not connect to {host}")
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            sock.settimeout(TIMEOUT_SECONDS)
            try:
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error

    conn._create_connection = connect  # type: ignore[attr-defined]  # http.client's own hook
    return conn


def deliver(payload: WebhookPayload, settings: Settings, now: float | None = None) -> dict:
    """POST the event, signed; the answer's status and a short excerpt of its body.

    A 2xx is delivered; a 5xx, a 429, a timeout or a refused connection is retried (JobError);
    any other answer (a redirect, a 4xx) or a refused address is permanent.
    """
    if not settings.webhook_secret:
        raise Misconfigured("WEBHOOK_SECRET is not set: webhooks cannot be signed")
    body = json.dumps(payload.event, separators=(",", ":"), sort_keys=True).encode()
    stamp = int(time.time() if now is None else now)
    parts = urlsplit(payload.url)
    conn = _connection(payload.url, settings.webhook_allow_private)
    try:
        conn.request(
            "POST",
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "skiplock-webhook",
                SIGNATURE_HEADER: sign(settings.webhook_secret, stamp, body),
            },
        )
        answer = conn.getresponse()
        excerpt = answer.read(EXCERPT_CHARS * 4).decode(errors="replace")[:EXCERPT_CHARS]
    except _Refused as exc:
        raise PermanentJobError(f"{FIELD} refused: {exc}") from None
    except (OSError, http.client.HTTPException) as exc:  # timeout, refused, reset
        raise JobError(f"delivery failed: {type(exc).__name__}: {exc}") from None
    finally:
        conn.close()
    result = {"status": answer.status, "excerpt": excerpt}
    if 200 <= answer.status < 300:
        return result
    message = f"the receiver answered {answer.status}: {excerpt!r}"
    if answer.status >= 500 or answer.status == 429:
        raise JobError(message)
    raise PermanentJobError(message + " (not retried; redirects are not followed)")


def register(registry: Registry, settings: Settings) -> None:
    def webhook(job: Job, ctx: JobContext) -> dict:
        """Deliver one terminal status to its callback_url."""
        try:
            return deliver(job.payload, settings)
        except Misconfigured as exc:
            raise JobError(exc.message) from None  # retried: the setting may yet be fixed

    registry.callback_rule = partial(check_callback, settings=settings)
    registry.job_type(
        WEBHOOK_TYPE,
        payload=WebhookPayload,
        timeout_seconds=TIMEOUT_SECONDS + 5,
        queue=WEBHOOK_QUEUE,
        max_attempts=WEBHOOK_MAX_ATTEMPTS,
    )(webhook)
