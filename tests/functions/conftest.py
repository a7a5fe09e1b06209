"""Fixtures for the function tests: settings in the environment, and the functions on a database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.functions.client import Configure, Functions, clear_http_caches

# Settings the function tests set; a value from the outer environment must not leak in.
SETTINGS = (
    "DATABASE_URL",
    "API_TOKEN",
    "SCHEDULER_TOKEN",
    "MAX_PAYLOAD_BYTES",
    "MAX_ATTEMPTS",
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_MAX_SECONDS",
    "BACKOFF_JITTER",
    "LEASE_SECONDS",
    "WORKER_BUDGET_SECONDS",
    "WORKER_HTTP_BUDGET_SECONDS",
    "WORKER_CONCURRENCY",
    "SCHEDULE_BUDGET_SECONDS",
    "WORKER_BATCH_SIZE",
    "WORKER_POLL_SECONDS",
    "BUILTIN_JOB_TYPES",
    "JOB_MODULES",
    "RECURRING_FILE",
    "WEBHOOK_SECRET",
    "WEBHOOK_ALLOW_PRIVATE",
    "LOG_FORMAT",
    "LOG_LEVEL",
)


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """Set settings for the functions: ``configure(API_TOKEN="t", MAX_PAYLOAD_BYTES="100")``.

    functions/_http.py reads settings once per process, so each call clears its caches; the test
    starts and ends with none, and the environment is restored afterwards.
    """
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)

    def configure(**settings: str) -> None:
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        clear_http_caches()

    clear_http_caches()
    yield configure
    clear_http_caches()


@pytest.fixture
def functions(engine: Engine, db_url: str, configure: Configure) -> Functions:
    """The functions on the test's backend, its tables empty, other settings default but one.

    A poll longer than any budget makes an idle worker tick look for jobs once and then wait
    out its budget, so that what a tick did depends only on the jobs a test submitted before.
    """
    configure(DATABASE_URL=db_url, WORKER_POLL_SECONDS="60")
    return Functions()
