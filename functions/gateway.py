"""A local API gateway: one Flask app routing every path of the catalog to its function.

In the cloud an API gateway does this routing; locally (and in a Lambda that serves several
routes) this app does, from the same catalog (functions/catalog.py).
"""

from __future__ import annotations

import re

import flask
from werkzeug import exceptions

from common.errors import MethodNotAllowed, NotFound, PayloadTooLarge, SkiplockError
from functions._http import configure_logs, discard_unread, error_response, registry, settings
from functions.catalog import CATALOG, Catalog, Function

HTTP_ERRORS: dict[int, tuple[type[SkiplockError], str]] = {
    404: (NotFound, "path"),
    405: (MethodNotAllowed, "method"),
    413: (PayloadTooLarge, "body"),
}
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}  # Flask answers them on every route; not our API's


def create_gateway(catalog: Catalog = CATALOG, only: set[str] | None = None) -> flask.Flask:
    """A Flask app serving the routes of the functions in ``only`` (default: all of them)."""
    app = flask.Flask("skiplock-gateway")
    app.config["MAX_CONTENT_LENGTH"] = settings().max_payload_bytes
    for function in catalog.functions:
        if only is None or function.name in only:
            _mount(app, function)
    app.register_error_handler(exceptions.HTTPException, _http_error)
    app.after_request(_discard_unread)
    return app


def _discard_unread(response: flask.Response) -> flask.Response:
    """A refused request's unread body (a 404, a 405) is dropped too (functions/body.py)."""
    discard_unread(flask.request)
    return response


def _mount(app: flask.Flask, function: Function) -> None:
    target = function.code()
    for route in function.routes:
        rule = re.sub(r"\{(\w+)\}", r"<\1>", route.path)
        app.add_url_rule(
            rule,
            endpoint=f"{function.name} {route.method} {rule}",
            view_func=lambda target=target, **_: target(flask.request),
            methods=[route.method],
        )


def _http_error(exc: exceptions.HTTPException) -> flask.Response:
    error_class, field = HTTP_ERRORS.get(exc.code or 500, (SkiplockError, ""))
    response = error_response(error_class(_message(exc), field=field or None))
    if isinstance(exc, exceptions.MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


def _message(exc: exceptions.HTTPException) -> str:
    """What went wrong, naming the method and path asked for and, for a 405, those allowed."""
    asked = f"{flask.request.method} {flask.request.path}"
    if isinstance(exc, exceptions.MethodNotAllowed):
        allowed = sorted(set(exc.valid_methods or ()) - AUTOMATIC_METHODS)
        return f"{asked} is not allowed; use {' or '.join(allowed)}"
    if isinstance(exc, exceptions.NotFound):
        return f"no route {asked}; see GET /openapi.json for the API"
    return exc.description or ""


def create_app() -> flask.Flask:
    """The gateway of every function in the catalog (gunicorn's entry point). A worker whose
    job types cannot be loaded (JOB_MODULES) fails to boot, rather than answer 500s."""
    configure_logs()
    registry()
    return create_gateway()
