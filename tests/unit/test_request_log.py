"""The line each answered HTTP request writes (common.logs.log_request)."""

from __future__ import annotations

import logging

import pytest

from common.logs import http_log, log_request


def test_the_url_is_built_only_for_a_line_that_is_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    built: list[str] = []

    def url() -> str:
        built.append("built")
        return "http://localhost/jobs?status=DLQ"

    with caplog.at_level(logging.WARNING, logger=http_log.name):
        log_request("GET", url, 200, 0.002)  # INFO: below the level, no line
        assert built == [] and caplog.records == []
        log_request("GET", url, 500, 0.002)  # ERROR: written, with its URL
    assert built == ["built"]
    [line] = caplog.records
    assert line.getMessage() == "GET http://localhost/jobs?status=DLQ 500 2.0 ms"
    assert line.httpRequest["requestUrl"] == "http://localhost/jobs?status=DLQ"  # type: ignore[attr-defined]
