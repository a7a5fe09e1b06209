"""metrics: GET /metrics, the Prometheus text exposition, read from the database at scrape
time (common/metrics.py); authenticated like the API."""

from __future__ import annotations

from typing import Any

import flask
import functions_framework

from common.metrics import CONTENT_TYPE, exposition
from functions._http import engine, reject_unknown, serve


@functions_framework.http
def metrics(request: flask.Request) -> Any:
    """Every skiplock metric, as Prometheus scrapes them."""
    return serve(request, _scrape, methods={"GET"})


def _scrape(request: flask.Request) -> flask.Response:
    reject_unknown(request.args, (), what="query parameter")
    return flask.Response(exposition(engine()), content_type=CONTENT_TYPE)
