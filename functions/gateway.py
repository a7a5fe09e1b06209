"""A local API gateway: one Flask app routing every path in infra/functions.toml to its function.

In the cloud an API gateway does this routing; locally (and in a Lambda that serves several
routes) this app does, from the same definitions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import flask
from werkzeug.exceptions import HTTPException

from common.errors import MethodNotAllowed, NotFound, PayloadTooLarge, SkiplockError
from functions import main
from functions._http import error_response, settings
from infra.definitions import Definitions, Function, load

HTTP_ERRORS: dict[int, tuple[type[SkiplockError], str]] = {
    404: (NotFound, "path"),
    405: (MethodNotAllowed, "method"),
    413: (PayloadTooLarge, "body"),
}


def create_gateway(definitions: Definitions, only: set[str] | None = None) -> flask.Flask:
    """A Flask app serving the routes of the functions in ``only`` (default: all of them)."""
    app = flask.Flask("skiplock-gateway")
    app.config["MAX_CONTENT_LENGTH"] = settings().max_payload_bytes
    for function in definitions.functions:
        if only is None or function.name in only:
            _mount(app, function)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _mount(app: flask.Flask, function: Function) -> None:
    target: Callable[[flask.Request], Any] = getattr(main, function.entry_point)
    for route in function.routes:
        rule = re.sub(r"\{(\w+)\}", r"<\1>", route.path)
        app.add_url_rule(
            rule,
            endpoint=f"{function.name} {route.method} {rule}",
            view_func=lambda target=target, **_: target(flask.request),
            methods=[route.method],
        )


def _http_error(exc: HTTPException) -> flask.Response:
    error_class, field = HTTP_ERRORS.get(exc.code or 500, (SkiplockError, ""))
    return error_response(error_class(exc.description, field=field or None))


def create_app() -> flask.Flask:
    """The gateway for every function in infra/functions.toml (gunicorn's entry point)."""
    return create_gateway(load())
