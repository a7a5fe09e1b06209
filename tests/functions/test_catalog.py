"""functions/catalog.py: deployable as written, and every function in it exists as a
functions-framework target, a Lambda handler and a gateway route."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from functions import aws_lambda, main
from functions.catalog import CATALOG, Catalog, Function, Schedule, routes
from functions.gateway import create_gateway

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "main.py"
TICK = Function("worker_tick", "schedule", 60, 512, routes("POST /ticks/work"))
FIRES_TICK = Schedule("tick", "* * * * *", "worker_tick", "worker_budget_seconds")


def tick(**changes: Any) -> Function:
    return dataclasses.replace(TICK, **changes)


def fires(**changes: Any) -> Schedule:
    return dataclasses.replace(FIRES_TICK, **changes)


def test_the_catalog_has_functions_and_schedules() -> None:
    assert CATALOG.functions and CATALOG.schedules


@pytest.mark.parametrize(
    ("functions", "schedules", "error"),
    [
        ((TICK,), (fires(target="missing"),), "targets unknown missing"),
        ((tick(timeout_seconds=50),), (FIRES_TICK,), "below worker_tick's timeout"),
        ((TICK,), (fires(budget_setting="tick_seconds"),), "no setting tick_seconds"),
        ((TICK,), (fires(cron="* * * *"),), "five fields"),
        ((tick(trigger="http"),), (FIRES_TICK,), "not schedule-triggered"),
        ((TICK,), (), "no schedule fires it"),
        ((tick(trigger="queue"),), (FIRES_TICK,), "trigger"),
        ((tick(uses=("database",)),), (FIRES_TICK,), "unknown uses"),
        ((TICK, TICK), (FIRES_TICK,), "names repeat"),
    ],
)
def test_a_catalog_that_cannot_be_deployed_is_refused(
    functions: tuple[Function, ...], schedules: tuple[Schedule, ...], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        Catalog(functions, schedules)


def test_a_deployable_catalog_is_accepted() -> None:
    assert Catalog((TICK,), (FIRES_TICK,)).schedules_of("worker_tick") == (FIRES_TICK,)


@pytest.mark.parametrize("function", CATALOG.functions, ids=lambda f: f.name)
def test_each_function_is_a_functions_framework_target_in_main(function: Function) -> None:
    app = functions_framework.create_app(target=function.name, source=str(SOURCE))
    assert app is not None


def test_main_exports_exactly_the_catalog() -> None:
    assert main.__all__ == [f.name for f in CATALOG.functions]


@pytest.mark.parametrize("function", CATALOG.functions, ids=lambda f: f.name)
def test_each_function_has_its_lambda_handler(function: Function) -> None:
    handler = getattr(aws_lambda, function.name)
    assert callable(handler) and handler.__name__ == function.name


def test_the_gateway_serves_every_route_and_no_other() -> None:
    app = create_gateway(CATALOG)
    served = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    routed = {
        (r.method, r.path.replace("{", "<").replace("}", ">"))
        for f in CATALOG.functions
        for r in f.routes
    }
    assert served == routed
