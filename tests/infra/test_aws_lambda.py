"""The Lambda adapter (functions/aws_lambda.py) on MariaDB: every route through an HTTP API
(payload v2) event and every schedule through its EventBridge event answer as the
functions-framework path does."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from functions import aws_lambda
from functions.catalog import CATALOG, Schedule
from infra.aws.cfn import logical_id
from tests.databases import empty_tables
from tests.infra.adapter import (
    API_TOKEN,
    SCHEDULER_TOKEN,
    Answer,
    normalized,
    reset_caches,
    via_framework,
    via_lambda,
)
from tests.infra.events import default_scheduled_event

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "aws" / "template.yaml"
SETTINGS = ("API_TOKEN", "SCHEDULER_TOKEN", "WORKER_BUDGET_SECONDS", "JOB_MODULES")
Ask = Callable[..., Answer]


@pytest.fixture
def configured(
    mariadb_engine: Engine, database_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """Both paths on the emptied MariaDB database, with both tokens set."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_urls["mariadb"])
    monkeypatch.setenv("API_TOKEN", API_TOKEN)
    monkeypatch.setenv("SCHEDULER_TOKEN", SCHEDULER_TOKEN)
    reset_caches()
    yield mariadb_engine
    reset_caches()


def empty(engine: Engine) -> None:
    empty_tables(engine)


def scenario(ask: Ask) -> list[Answer]:
    """Every route of the catalog, including refusals, from an empty database."""
    answers: list[Answer] = []

    def call(method: str, path: str, token: str | None = API_TOKEN, **options: Any) -> Any:
        answers.append(ask(method, path, token=token, **options))
        return answers[-1][1]

    one = call("POST", "/jobs", body={"type": "noop", "payload": {"n": 1}, "priority": 3})
    call("POST", "/jobs/add-job", body={"type": "noop", "idempotency_key": "same"})
    call("POST", "/jobs/add-job", body={"type": "noop", "idempotency_key": "same"})
    bulk = call("POST", "/jobs/bulk", body={"jobs": [{"type": "noop"}, {"type": "noop"}]})
    call("GET", f"/jobs/{one['id']}")
    call("GET", "/jobs", query={"type": "noop", "limit": "2"})
    call("GET", "/jobs/999999999")
    call("POST", "/jobs/update", body={"action": "cancel", "ids": bulk["ids"][:1]})
    call("GET", "/jobs/update")
    call(
        "PUT", "/queues/mail", body={"max_running": 2, "rate_limit": {"per_second": 5, "burst": 2}}
    )
    call("POST", "/queues/mail/pause")
    call("POST", "/queues/mail/resume")
    call("GET", "/queues")
    call("POST", "/ticks/schedule", token=SCHEDULER_TOKEN, body={"budget_seconds": 5})
    call("POST", "/ticks/work", token=SCHEDULER_TOKEN, body={"budget_seconds": 3, "max_jobs": 3})
    call("GET", "/jobs")
    call("GET", "/dlq")
    call("GET", "/metrics")
    call("GET", "/metrics", token=None)
    call("GET", "/openapi.json")
    call("GET", "/recurring")
    # The dashboard keeps a session instead of a bearer token: without one it asks for it.
    for page in ("", "/jobs", f"/jobs/{one['id']}", "/dlq", "/login"):
        call("GET", "/dashboard" + page, token=None)
    for action in ("login", "logout", "actions"):
        call("POST", f"/dashboard/{action}", token=None)
    call("POST", "/jobs", token=None, body={"type": "noop"})
    call("POST", "/jobs", token="wrong", body={"type": "noop"})
    return answers


def test_every_route_answers_through_lambda_as_through_functions_framework(
    configured: Engine,
) -> None:
    expected = scenario(via_framework)
    empty(configured)
    got = scenario(via_lambda)
    assert [status for status, _ in got] == [status for status, _ in expected]
    assert normalized(got) == normalized(expected)
    assert {status for status, _ in got} >= {200, 201, 401, 404, 405}


def test_the_scenario_covers_every_route() -> None:
    asked: set[tuple[str, str]] = set()

    def record(method: str, path: str, **_: Any) -> Answer:
        asked.add((method, path))
        return 200, {"id": 1, "ids": [1]}

    scenario(record)
    routed = {(r.method, r.path) for f in CATALOG.functions for r in f.routes}
    covered = {(m, _route_of(p)) for m, p in asked}
    assert routed <= covered


def _route_of(path: str) -> str:
    return re.sub(r"/\d+$", "/{job_id}", path).replace("/queues/mail", "/queues/{queue}")


def test_a_base64_encoded_body_is_decoded(configured: Engine) -> None:
    status, job = via_lambda(
        "POST", "/jobs", token=API_TOKEN, body={"type": "noop"}, base64_body=True
    )
    assert (status, job["type"]) == (201, "noop")


def rule_input(schedule: Schedule) -> dict[str, Any]:
    """The input the checked-in template gives ``schedule``'s EventBridge rule."""
    template = yaml.safe_load(TEMPLATE.read_text())
    rule = template["Resources"][logical_id(schedule.name, "Rule")]
    return dict(json.loads(rule["Properties"]["Targets"][0]["Input"]))


@pytest.mark.parametrize("schedule", CATALOG.schedules, ids=lambda s: s.name)
def test_a_scheduled_event_runs_its_tick_as_a_post_with_the_scheduler_token(
    configured: Engine, schedule: Schedule
) -> None:
    event = rule_input(schedule)
    assert event == aws_lambda.scheduled_event(schedule)
    # What is under test is the event, not a 50 s wait: stop once the two jobs have started.
    event["body"] |= {"budget_seconds": 3} | (
        {"max_jobs": 2} if schedule.target == "worker_tick" else {}  # the schedule tick has none
    )
    route = CATALOG.function(schedule.target).routes[0]
    answers = []
    for run in ("lambda", "framework"):
        empty(configured)
        for _ in range(2):
            via_lambda("POST", "/jobs", token=API_TOKEN, body={"type": "noop"})
        if run == "lambda":
            response = getattr(aws_lambda, schedule.target)(event, None)
            answers.append((response["statusCode"], json.loads(response["body"])))
        else:
            options = {"token": SCHEDULER_TOKEN, "body": event["body"]}
            answers.append(via_framework(route.method, route.path, **options))
    assert answers[0] == answers[1]
    assert answers[0][0] == 200
    if schedule.target == "worker_tick":
        assert answers[0][1]["succeeded"] == 2


def test_worker_tick_runs_the_jobs_when_scheduled(configured: Engine) -> None:
    for _ in range(3):
        via_lambda("POST", "/jobs", token=API_TOKEN, body={"type": "noop"})
    event = {"schedule": "worker-tick", "body": {"budget_seconds": 3, "max_jobs": 3}}
    summary = json.loads(aws_lambda.worker_tick(event, None)["body"])
    assert (summary["claimed"], summary["succeeded"]) == (3, 3)


def test_a_rule_without_input_runs_the_tick_with_its_defaults(
    configured: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_BUDGET_SECONDS", "1")
    reset_caches()
    response = aws_lambda.worker_tick(default_scheduled_event(), None)
    assert response["statusCode"] == 200


def test_a_refused_tick_fails_the_invocation(
    configured: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCHEDULER_TOKEN")  # the tick then goes without a token: 401
    reset_caches()
    with pytest.raises(aws_lambda.TickFailed, match="401"):
        aws_lambda.schedule_tick({"schedule": "schedule-tick", "body": {}}, None)


def test_an_http_function_refuses_a_scheduled_event() -> None:
    with pytest.raises(ValueError, match="HTTP API events only"):
        aws_lambda.submit_job({"schedule": "worker-tick", "body": {}}, None)


def test_a_tick_refuses_an_event_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="cannot handle"):
        aws_lambda.worker_tick({"Records": []}, None)
