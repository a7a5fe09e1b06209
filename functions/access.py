"""Who may call: the bearer tokens of the API (API_TOKEN) and of the scheduled ticks
(SCHEDULER_TOKEN), checked here and only here, in constant time.

With SCHEDULER_TOKEN set a tick takes only it, and every other endpoint only API_TOKEN: a leaked
client token cannot drive the workers, a leaked scheduler token cannot read or change jobs.
Without SCHEDULER_TOKEN the ticks take API_TOKEN. Without API_TOKEN the API is open (the local
stack refuses to listen beyond loopback then, local/stack.py).
"""

from __future__ import annotations

import hmac

import flask

from common.config import Settings
from common.errors import Unauthorized


def authorize(request: flask.Request, settings: Settings, *, tick: bool) -> None:
    """401 unless the request carries ``Authorization: Bearer <token>`` with the token this
    endpoint takes; nothing to check when that token is unset."""
    expected = _expected_token(settings, tick=tick)
    if expected is None:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Compared even when the scheme is wrong, so that timing tells nothing either way.
    matches = token_matches(given, expected)
    if scheme.lower() != "bearer" or not matches:
        raise Unauthorized(field="Authorization")


def token_matches(given: str, expected: str) -> bool:
    """Whether ``given`` is ``expected``, in time that does not depend on where they differ."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _expected_token(settings: Settings, *, tick: bool) -> str | None:
    if tick and settings.scheduler_token:
        return settings.scheduler_token
    return settings.api_token
