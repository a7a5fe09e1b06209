"""The dashboard's session: a signed cookie (HttpOnly, SameSite=Strict) holding a CSRF token
and, once the API token was given at the login page, that the holder is logged in.

The signing key is derived from API_TOKEN, so any instance can check any session, and a new
token ends every session. Without API_TOKEN there is nothing to log into; the cookie still
carries the CSRF token that every POST must send back in its form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import flask
from itsdangerous import BadSignature, URLSafeTimedSerializer

from common.errors import SkiplockError, Unauthorized

COOKIE = "skiplock_session"
PATH = "/dashboard"
MAX_AGE_SECONDS = 12 * 3600


class Forbidden(SkiplockError):
    """This request did not come from a dashboard page (CSRF check failed)."""

    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class Session:
    csrf: str
    logged_in: bool

    @classmethod
    def new(cls, logged_in: bool) -> Session:
        return cls(secrets.token_urlsafe(24), logged_in)


def _serializer(api_token: str | None) -> URLSafeTimedSerializer:
    key = hashlib.sha256(b"skiplock-dashboard\0" + (api_token or "").encode()).hexdigest()
    return URLSafeTimedSerializer(key, salt="session")


def read(request: flask.Request, api_token: str | None) -> Session | None:
    """The request's valid session, or None."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(api_token).loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
        return None
    return Session(data["csrf"], bool(data.get("in")) or api_token is None)


def write(response: flask.Response, session: Session, api_token: str | None, secure: bool) -> None:
    value = _serializer(api_token).dumps({"csrf": session.csrf, "in": session.logged_in})
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE_SECONDS,
        path=PATH,
        httponly=True,
        samesite="Strict",
        secure=secure,
    )


def forget(response: flask.Response, secure: bool) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="Strict", secure=secure)


def check_post(request: flask.Request, session: Session | None) -> Session:
    """A POST must come from a dashboard page: the form's csrf equals the session's, and a
    browser's Origin (or Sec-Fetch-Site) says the same site. Forbidden otherwise."""
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise Forbidden("cross-site request refused", field="Origin")
    if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
        raise Forbidden("cross-site request refused", field="Sec-Fetch-Site")
    given = request.form.get("csrf", "")
    if session is None or not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise Forbidden("the form is stale or forged: reload the page", field="csrf")
    return session


def require_login(session: Session | None) -> Session:
    if session is None or not session.logged_in:
        raise Unauthorized("log in with the API token", field="session")
    return session
