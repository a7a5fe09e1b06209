"""Settings that could never work are refused when the worker tick (or the stack) starts, with
a message naming what to change, instead of being discovered by jobs that never run."""

from __future__ import annotations

import pytest

from common.config import Settings
from common.handlers.registry import Registry
from functions.catalog import check_deployment
from tests.functions.client import Configure, Functions


def registry_with_a_type_expecting(seconds: float) -> Registry:
    registry = Registry()
    registry.job_type("nightly", timeout_seconds=600, expected_seconds=seconds)(lambda j, c: None)
    return registry


def test_a_job_type_that_expects_to_outlast_every_tick_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"'nightly' expects to run 120 s.*WORKER_BUDGET_SECONDS=50"
    ):
        check_deployment(Settings(), registry_with_a_type_expecting(120))
    check_deployment(Settings(), registry_with_a_type_expecting(40))  # fits: no error


def test_a_budget_the_function_timeout_would_cut_short_is_refused() -> None:
    with pytest.raises(ValueError, match="WORKER_BUDGET_SECONDS=60 does not fit"):
        check_deployment(Settings(worker_budget_seconds=60), Registry())
    with pytest.raises(ValueError, match="SCHEDULE_BUDGET_SECONDS=0 does not fit"):
        check_deployment(Settings(schedule_budget_seconds=0), Registry())


def test_a_worker_tick_with_such_settings_answers_503_saying_what_to_change(
    functions: Functions, configure: Configure, db_url: str
) -> None:
    configure(DATABASE_URL=db_url, WORKER_BUDGET_SECONDS="90", WORKER_POLL_SECONDS="60")

    response = functions.worker_tick.post("/ticks/work", json={"budget_seconds": 1})

    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "misconfigured"
    assert "WORKER_BUDGET_SECONDS=90" in error["message"]
