"""dashboard: GET /dashboard and its pages, an operator's web UI (Flask and Jinja2, no script).

Served by the gateway like every function, and deployable as its own function. With API_TOKEN
set, every page but the login page answers 401 (the login form) without a valid session, and
changes nothing; every action is a POST carrying the session's CSRF token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import flask
import functions_framework
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from common.db import availability_error
from common.errors import (
    DatabaseUnavailable,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    SkiplockError,
    Unauthorized,
)
from common.logs import log_request
from functions import access
from functions._http import configure_logs, discard_unread, error_response, settings
from functions.dashboard import pages
from functions.dashboard import session as sessions
from functions.dashboard.session import Session

log = logging.getLogger("skiplock.dashboard")
HEADERS = {
    # No script runs here at all: even markup that escaped escaping could not execute.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
Page = Callable[[flask.Request, Session], flask.Response]


@functions_framework.http
def dashboard(request: flask.Request) -> Any:
    """The dashboard's pages: overview, jobs, a job, the DLQ; login and actions."""
    configure_logs()
    started = time.perf_counter()
    response = _answer(request)
    discard_unread(request)
    response.headers.update(HEADERS)
    elapsed = time.perf_counter() - started
    log_request(request.method, lambda: request.url, response.status_code, elapsed)
    return response


def _answer(request: flask.Request) -> flask.Response:
    token = settings().api_token
    found = sessions.read(request, token)
    session = found or Session.new(logged_in=token is None)
    try:
        response = _route(request, session)
    except SkiplockError as exc:
        response = _error(request, exc, session)
    except DBAPIError as exc:
        log.warning("database error: %s", exc.orig)
        response = _error(request, availability_error(exc) or DatabaseUnavailable(), session)
    except SQLAlchemyError:
        log.exception("database error")
        response = _error(request, SkiplockError(), session)
    except RequestEntityTooLarge:  # a form over the gateway's MAX_CONTENT_LENGTH
        limit = settings().max_payload_bytes
        too_large = PayloadTooLarge(f"the form is over MAX_PAYLOAD_BYTES ({limit} bytes)")
        response = _error(request, too_large, session)
    except Exception:  # never a traceback in a page; the log has it
        log.exception("unexpected error")
        response = _error(request, SkiplockError(), session)
    if found is None and not response.headers.get("Set-Cookie"):
        sessions.write(response, session, token, secure=_secure(request))
    return response


def _route(request: flask.Request, session: Session) -> flask.Response:
    parts = [part for part in request.path.split("/") if part][1:]  # after "dashboard"
    if parts == ["login"]:
        return _login(request, session)
    sessions.require_login(session)  # first: without a login, every page and action is a 401
    if request.method == "POST":
        sessions.check_post(request, session)
    if request.method == "POST":
        if parts == ["actions"]:
            return pages.act(request)
        if parts == ["logout"]:
            return _logout(request)
    elif request.method == "GET":
        page = _page(parts)
        if page is not None:
            return page(request, session)
    else:
        raise MethodNotAllowed(f"{request.method} is not allowed here", field="method")
    raise NotFound(f"no dashboard page {request.method} {request.path}", field="path")


def _page(parts: list[str]) -> Page | None:
    if parts == []:
        return pages.overview
    if parts == ["jobs"]:
        return pages.jobs_page
    if parts == ["dlq"]:
        return pages.dlq_page
    if len(parts) == 2 and parts[0] == "jobs":
        return lambda request, session: pages.job_page(request, session, parts[1])
    return None


def _login(request: flask.Request, session: Session) -> flask.Response:
    token = settings().api_token
    if request.method == "GET" or token is None:
        if session.logged_in:
            return pages.redirect("/dashboard")
        return pages.render("login.html", session, error=None)
    sessions.check_post(request, session)
    if not access.token_matches(request.form.get("token", ""), token):
        if not _wants_html(request):
            return error_response(Unauthorized("That is not the API token.", field="token"))
        return pages.render("login.html", session, status=401, error="That is not the API token.")
    response = pages.redirect("/dashboard")
    sessions.write(response, Session.new(logged_in=True), token, secure=_secure(request))
    return response


def _logout(request: flask.Request) -> flask.Response:
    response = pages.redirect("/dashboard/login")
    sessions.forget(response, secure=_secure(request))
    return response


def _error(request: flask.Request, exc: SkiplockError, session: Session) -> flask.Response:
    if exc.status == 401:
        if not _wants_html(request):  # a script, not a browser: the API's 401
            return error_response(exc)
        return pages.render("login.html", session, status=401, error=None)
    return pages.render("error.html", session, status=exc.status, error=exc)


def _wants_html(request: flask.Request) -> bool:
    """A browser names text/html in Accept; curl and HTTP libraries send */* or nothing."""
    named = {value for value, quality in request.accept_mimetypes if quality > 0}
    return "text/html" in named or "application/xhtml+xml" in named


def _secure(request: flask.Request) -> bool:
    forwarded = request.headers.get("X-Forwarded-Proto", "")
    return request.scheme == "https" or forwarded.split(",")[0].strip() == "https"
