"""Hostile input, by hand, on every operation of functions/openapi.json through the gateway:
every answer a 4xx JSON error naming the field (never a 500), nothing stored from a refused
request. (The same over real HTTP, with the connection-level cases: tests/e2e/test_hostile_http.py.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from functions.body import MAX_JSON_DEPTH
from functions.gateway import create_gateway
from tests.functions.client import FunctionClient, Functions, error_of
from tests.functions.test_auth import database_rows

INJECTIONS = ["' OR 1=1 --", '"; DROP TABLE jobs; --', "1; SELECT SLEEP(5)", "%' --", "\\'"]
DEEP = b"[" * 10_000 + b"]" * 10_000
JSON_ROUTES = [  # (method, path) of every operation that reads a JSON body
    ("POST", "/jobs"),
    ("POST", "/jobs/add-job"),
    ("POST", "/jobs/bulk"),
    ("POST", "/jobs/update"),
    ("PUT", "/queues/mail"),
    ("POST", "/queues/mail/pause"),
    ("POST", "/queues/mail/resume"),
    ("POST", "/ticks/schedule"),
    ("POST", "/ticks/work"),
]
RAW_BODIES = {  # what any JSON body may be: (bytes, the field named)
    "deep-10000": (DEEP, "body"),
    "deep-5000-object": (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "body"),
    "deep-65": (b'{"payload":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}", None),
    "lone-surrogate": (b'{"type": "\\ud800"}', "type"),
    "lone-surrogate-payload": (b'{"type": "noop", "payload": {"s": "\\ud800"}}', "payload.s"),
    "lone-surrogate-key": (b'{"\\udfff": 1}', "body"),
    "invalid-utf8": (b'{"type": "\xff\xfe"}', "body"),
    "nul": (b'{"type": "no\\u0000op"}', "type"),
    "nan": (b'{"priority": NaN}', "priority"),
    "infinity": (b'{"priority": -Infinity}', "priority"),
    "1e309": (b'{"priority": 1e309}', "priority"),
    "not-json": (b"{type: noop}", "body"),
    "truncated": (b'{"type": "noop"', "body"),
    "array": (b"[]", "body"),
    "string": (b'"noop"', "body"),
    "number": (b"2e64", "body"),
}


def gateway() -> FunctionClient:
    return FunctionClient(create_gateway())


def assert_refused(response: Any, field: str | None, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.mimetype == "application/json"
    error = error_of(response)
    assert set(error) == {"code", "message", "field"}
    if field is not None:
        assert error["field"] == field, error


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES, ids=[p for _, p in JSON_ROUTES])
@pytest.mark.parametrize("name", RAW_BODIES)
def test_a_body_that_is_no_usable_json_is_a_400_naming_the_field_and_stores_nothing(
    functions: Functions, engine: Engine, method: str, path: str, name: str
) -> None:
    raw, field = RAW_BODIES[name]
    before = database_rows(engine)

    response = gateway().request(
        method, path, data=raw, headers={"Content-Type": "application/json"}
    )

    assert_refused(response, field if path.startswith("/jobs") and "/update" not in path else None)
    assert database_rows(engine) == before


JOB_FIELDS_BAD: list[tuple[dict[str, Any], str]] = [
    ({}, "type"),
    ({"type": 1}, "type"),
    ({"type": ["noop"]}, "type"),
    ({"type": "nope"}, "type"),
    ({"type": "noop", "extra": 1}, "extra"),
    ({"type": "noop", "payload": []}, "payload"),
    ({"type": "noop", "payload": "x"}, "payload"),
    ({"type": "noop", "priority": "1"}, "priority"),
    ({"type": "noop", "priority": True}, "priority"),
    ({"type": "noop", "priority": 2**64}, "priority"),
    ({"type": "noop", "priority": -(2**64)}, "priority"),
    ({"type": "noop", "priority": 1.5}, "priority"),
    ({"type": "noop", "max_attempts": -1}, "max_attempts"),
    ({"type": "noop", "max_attempts": 2**64}, "max_attempts"),
    ({"type": "noop", "delay_seconds": -1}, "delay_seconds"),
    ({"type": "noop", "delay_seconds": 2**64}, "delay_seconds"),
    ({"type": "noop", "delay_seconds": 1e300}, "delay_seconds"),
    ({"type": "noop", "expires_in_seconds": 1e300}, "expires_in_seconds"),
    ({"type": "noop", "expires_in_seconds": -5}, "expires_in_seconds"),
    ({"type": "noop", "run_at": "tomorrow"}, "run_at"),
    ({"type": "noop", "run_at": "2030-02-30T00:00:00Z"}, "run_at"),
    ({"type": "noop", "run_at": "2030-01-01T00:00:00"}, "run_at"),  # no time zone
    ({"type": "noop", "run_at": "2030-01-01T00:00:00+25:00"}, "run_at"),
    ({"type": "noop", "run_at": "2030-01-01T00:00:00 Europe/Paris"}, "run_at"),
    ({"type": "noop", "run_at": "99999-01-01T00:00:00Z"}, "run_at"),
    ({"type": "noop", "run_at": "0001-01-01T00:00:00+01:00"}, "run_at"),
    ({"type": "noop", "run_at": 1767225600}, "run_at"),
    ({"type": "noop", "not_after": "9999-12-31T23:59:59-23:59"}, "not_after"),
    ({"type": "noop", "queue": ""}, "queue"),
    ({"type": "noop", "queue": "x" * 65}, "queue"),
    ({"type": "noop", "idempotency_key": ""}, "idempotency_key"),
    ({"type": "noop", "idempotency_key": "k" * 10_000}, "idempotency_key"),
    ({"type": "noop", "idempotency_key": 5}, "idempotency_key"),
    ({"type": "noop", "concurrency_key": "k" * 10_000}, "concurrency_key"),
    *[({"type": value}, "type") for value in INJECTIONS],
    *[({"type": "noop", "queue": value}, "queue") for value in INJECTIONS],
]


@pytest.mark.parametrize(("job", "field"), JOB_FIELDS_BAD, ids=lambda v: json.dumps(v)[:60])
def test_a_bad_job_is_a_400_naming_its_field_and_stores_nothing(
    functions: Functions, engine: Engine, job: dict[str, Any], field: str
) -> None:
    before = database_rows(engine)

    one = gateway().post("/jobs", json=job)
    bulk = gateway().post("/jobs/bulk", json={"jobs": [{"type": "noop"}, job]})

    assert_refused(one, field)
    assert_refused(bulk, f"jobs[1].{field}")
    assert database_rows(engine) == before


@pytest.mark.parametrize("value", INJECTIONS)
def test_sql_meta_characters_are_data_in_every_field_that_stores_or_filters(
    functions: Functions, engine: Engine, value: str
) -> None:
    job = {"type": "noop", "payload": {value: value}, "idempotency_key": value}
    created = gateway().post("/jobs", json={**job, "concurrency_key": value})
    assert created.status_code == 201, created.text
    assert created.get_json()["payload"] == {value: value}

    for query in ({"type": value}, {"queue": value}, {"status": value}, {"cursor": value}):
        listed = gateway().get("/jobs", query=query)
        assert listed.status_code in (200, 400), listed.text
        if listed.status_code == 200:
            assert listed.get_json()["jobs"] == []
    for where in ({"type": value}, {"queue": value}, {"fingerprint": value}):
        updated = gateway().post("/jobs/update", json={"action": "cancel", "filter": where})
        assert updated.status_code == 200 and updated.get_json() == {"updated": 0}
    assert gateway().get(f"/jobs/{value}").status_code in (400, 404)
    assert gateway().get("/jobs").get_json()["jobs"][0]["status"] == "CREATED"


@pytest.mark.parametrize(
    "cursor",
    ["abc", "-1", "0", "1.5", " 1", "1 ", "0x10", str(2**64), "9" * 400, "MQ==", "1;--"],
)
def test_a_malformed_or_forged_cursor_is_a_400_naming_it(functions: Functions, cursor: str) -> None:
    assert_refused(gateway().get("/jobs", query={"cursor": cursor}), "cursor")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "-1"}, "limit"),
        ({"limit": str(2**64)}, "limit"),
        ({"limit": "1e3"}, "limit"),
        ({"limit": "NaN"}, "limit"),
        ({"status": "\x00"}, "status"),
        ({"stat": "DLQ"}, "stat"),
    ],
)
def test_bad_query_parameters_are_a_400_naming_them(
    functions: Functions, query: dict[str, str], field: str
) -> None:
    assert_refused(gateway().get("/jobs", query=query), field)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/jobs/-1", "job_id"),
        ("/jobs/0", "job_id"),
        (f"/jobs/{2**64}", "job_id"),
        ("/jobs/1e3", "job_id"),
        ("/jobs/%00", "job_id"),
        ("/jobs/%27%20OR%201=1", "job_id"),
        ("/queues/%27%3B--/pause", "queue"),
        ("/queues/" + "q" * 65 + "/pause", "queue"),
    ],
)
def test_bad_path_parameters_are_a_400_naming_them(
    functions: Functions, engine: Engine, path: str, field: str
) -> None:
    before = database_rows(engine)
    method = "POST" if path.endswith("/pause") else "GET"

    assert_refused(gateway().request(method, path), field)
    assert database_rows(engine) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "retry", "ids": [2**64]}, "ids"),
        ({"action": "retry", "ids": [-1]}, "ids"),
        ({"action": "retry", "ids": ["1"]}, "ids"),
        ({"action": "retry", "ids": [1.0]}, "ids"),
        ({"action": "DROP", "ids": [1]}, "action"),
        ({"action": "retry", "filter": {"status": 1}}, "filter.status"),
        ({"action": "retry", "filter": {"all": "yes"}}, "filter.all"),
        ({"action": "retry", "filter": {"queue": ["a"]}}, "filter.queue"),
        ({"action": "retry", "filter": {"x": 1}}, "filter.x"),
        ({"action": "retry", "filter": {}}, "filter"),
    ],
)
def test_bad_updates_are_a_400_naming_the_field(
    functions: Functions, engine: Engine, body: dict[str, Any], field: str
) -> None:
    before = database_rows(engine)

    assert_refused(gateway().post("/jobs/update", json=body), field)
    assert database_rows(engine) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"paused": "yes"}, "paused"),
        ({"max_running": -1}, "max_running"),
        ({"max_running": 2**64}, "max_running"),
        ({"rate_limit": {"per_second": 2**64, "burst": 1}}, "rate_limit.per_second"),
        ({"rate_limit": {"per_second": 1, "burst": 2**64}}, "rate_limit.burst"),
        ({"other": 1}, "other"),
    ],
)
def test_bad_queue_controls_are_a_400_naming_the_field(
    functions: Functions, engine: Engine, body: dict[str, Any], field: str
) -> None:
    before = database_rows(engine)

    assert_refused(gateway().request("PUT", "/queues/mail", json=body), field)
    assert database_rows(engine) == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/ticks/work", {"budget_seconds": 2**64}, "budget_seconds"),
        ("/ticks/work", {"budget_seconds": -1}, "budget_seconds"),
        ("/ticks/work", {"max_jobs": 0}, "max_jobs"),
        ("/ticks/work", {"queues": ["'; --"]}, "queues[0]"),
        ("/ticks/schedule", {"budget_seconds": "1"}, "budget_seconds"),
    ],
)
def test_bad_ticks_are_a_400_naming_the_field(
    functions: Functions, path: str, body: dict[str, Any], field: str
) -> None:
    assert_refused(gateway().post(path, json=body), field)


@pytest.mark.parametrize("path", ["/dashboard/actions", "/dashboard/logout"])
def test_a_dashboard_form_over_the_limit_is_a_413_page_not_a_500(
    functions: Functions, engine: Engine, path: str
) -> None:
    browser = gateway()
    browser.get("/dashboard")  # the session (no API_TOKEN: logged in)
    before = database_rows(engine)

    response = browser.post(
        path,
        data="csrf=x&pad=" + "x" * 300 * 1024,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 413
    assert database_rows(engine) == before
