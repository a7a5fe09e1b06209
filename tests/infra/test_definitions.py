"""infra/functions.toml: deployable as written, and every function in it exists as a
functions-framework target, a Lambda handler and a gateway route."""

from __future__ import annotations

from pathlib import Path

import functions_framework
import pytest

from functions import aws_lambda
from functions.gateway import create_gateway
from infra.definitions import Function, load

FUNCTIONS = """
[[functions]]
name = "worker_tick"
entry_point = "worker_tick"
trigger = "schedule"
timeout_seconds = 60
memory_mb = 512
routes = ["POST /ticks/work"]
"""
SOURCE = Path(__file__).resolve().parents[2] / "functions" / "main.py"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "functions.toml"
    path.write_text(text)
    return path


def schedule(target: str = "worker_tick", budget: int = 50, cron: str = "* * * * *") -> str:
    return f"""
[[schedules]]
name = "tick"
cron = "{cron}"
target = "{target}"
budget_seconds = {budget}
"""


def test_the_definitions_load() -> None:
    definitions = load()
    assert definitions.functions and definitions.schedules


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (FUNCTIONS + schedule(target="missing"), "targets unknown missing"),
        (FUNCTIONS + schedule(budget=60), "below worker_tick's timeout"),
        (FUNCTIONS + schedule(cron="* * * *"), "five fields"),
        (FUNCTIONS.replace('"schedule"', '"http"') + schedule(), "not schedule-triggered"),
        (FUNCTIONS, "no schedule fires it"),
        (FUNCTIONS.replace('trigger = "schedule"', 'trigger = "queue"') + schedule(), "trigger"),
        (FUNCTIONS + 'uses = ["database"]\n' + schedule(), "unknown uses"),
        (FUNCTIONS + FUNCTIONS + schedule(), "names repeat"),
    ],
)
def test_definitions_that_cannot_be_deployed_are_refused(
    tmp_path: Path, text: str, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        load(write(tmp_path, text))


@pytest.mark.parametrize("function", load().functions, ids=lambda f: f.name)
def test_each_function_is_a_functions_framework_target_in_main(function: Function) -> None:
    app = functions_framework.create_app(target=function.entry_point, source=str(SOURCE))
    assert app is not None


@pytest.mark.parametrize("function", load().functions, ids=lambda f: f.name)
def test_each_function_has_its_lambda_handler(function: Function) -> None:
    handler = getattr(aws_lambda, function.name)
    assert callable(handler) and handler.__name__ == function.name


def test_the_gateway_serves_every_route_and_no_other() -> None:
    app = create_gateway(load())
    served = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    routed = {
        (r.method, r.path.replace("{", "<").replace("}", ">"))
        for f in load().functions
        for r in f.routes
    }
    assert served == routed
