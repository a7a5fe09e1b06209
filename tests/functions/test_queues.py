"""queues: GET /queues lists queues with counts and controls; PUT sets a queue's controls;
POST .../pause and .../resume are shortcuts. Bad input is a 400 naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from common.models import queue_changes
from common.states import Status
from tests.factories import make_jobs
from tests.functions.client import Functions, error_of

S = Status


def listed(functions: Functions) -> dict[str, dict[str, Any]]:
    response = functions.queues.get("/queues")
    assert response.status_code == 200, response.text
    return {entry["queue"]: entry for entry in response.get_json()["queues"]}


def put(functions: Functions, queue: str, body: Any) -> Any:
    return functions.queues.request("PUT", f"/queues/{queue}", json=body)


def test_every_queue_with_jobs_or_controls_is_listed_with_its_counts(
    functions: Functions, engine: Engine
) -> None:
    make_jobs(engine, 3, S.SCHEDULED, queue="mail")
    make_jobs(engine, 2, S.DLQ, queue="mail")
    make_jobs(engine, 1, S.SCHEDULED, queue="pdf")
    assert put(functions, "quiet", {"paused": True}).status_code == 200

    queues = listed(functions)
    assert set(queues) == {"mail", "pdf", "quiet"}
    assert queues["mail"]["counts"] == {s.value: {"SCHEDULED": 3, "DLQ": 2}.get(s, 0) for s in S}
    assert queues["mail"]["paused"] is False and queues["mail"]["max_running"] is None
    assert queues["quiet"]["paused"] is True
    assert sum(queues["quiet"]["counts"].values()) == 0


def test_put_sets_every_control_and_answers_the_queue(functions: Functions) -> None:
    body = {
        "paused": False,
        "max_running": 3,
        "max_running_per_key": 1,
        "rate_limit": {"per_second": 14, "burst": 5},
    }
    response = put(functions, "mail", body)
    assert response.status_code == 200, response.text
    answer = response.get_json()
    assert {name: answer[name] for name in body} == {
        **body,
        "rate_limit": {"per_second": 14.0, "burst": 5},
    }
    assert listed(functions)["mail"]["rate_limit"] == {"per_second": 14.0, "burst": 5}


def test_pause_and_resume_keep_the_other_controls(functions: Functions) -> None:
    put(functions, "mail", {"max_running": 2})
    paused = functions.queues.post("/queues/mail/pause")
    assert paused.status_code == 200, paused.text
    assert (paused.get_json()["paused"], paused.get_json()["max_running"]) == (True, 2)
    resumed = functions.queues.post("/queues/mail/resume").get_json()
    assert (resumed["paused"], resumed["max_running"]) == (False, 2)


def test_each_change_is_audited(functions: Functions, engine: Engine) -> None:
    put(functions, "mail", {"max_running": 2})
    functions.queues.post("/queues/mail/pause")
    with engine.connect() as conn:
        rows = conn.execute(select(queue_changes).order_by(queue_changes.c.id)).all()
    assert [(r.queue, r.controls["paused"], r.controls["max_running"]) for r in rows] == [
        ("mail", False, 2),
        ("mail", True, 2),
    ]
    assert all(r.changed_by.startswith("api ") for r in rows)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"paused": "yes"}, "paused"),
        ({"max_running": 0}, "max_running"),
        ({"max_running": 2.5}, "max_running"),
        ({"max_running": True}, "max_running"),
        ({"max_running_per_key": -1}, "max_running_per_key"),
        ({"rate_limit": 5}, "rate_limit"),
        ({"rate_limit": {"per_second": 0, "burst": 1}}, "rate_limit.per_second"),
        ({"rate_limit": {"per_second": "fast", "burst": 1}}, "rate_limit.per_second"),
        ({"rate_limit": {"per_second": 1e309, "burst": 1}}, "rate_limit.per_second"),
        ({"rate_limit": {"per_second": 1}}, "rate_limit.burst"),
        ({"rate_limit": {"per_second": 1, "burst": 0}}, "rate_limit.burst"),
        ({"rate_limit": {"per_second": 1, "burst": 1, "x": 1}}, "rate_limit.x"),
        ({"paused": True, "colour": "red"}, "colour"),
    ],
)
def test_bad_controls_are_refused_naming_the_field_and_change_nothing(
    functions: Functions, engine: Engine, body: dict[str, Any], field: str
) -> None:
    response = put(functions, "mail", body)
    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == field
    assert "mail" not in listed(functions)


@pytest.mark.parametrize("name", ["has space", "x" * 65, "semi;colon"])
def test_a_bad_queue_name_is_refused(functions: Functions, name: str) -> None:
    response = put(functions, name, {"paused": True})
    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == "queue"


def test_a_body_that_is_not_an_object_is_refused(functions: Functions) -> None:
    response = put(functions, "mail", [1, 2])
    assert response.status_code == 400
    assert error_of(response)["field"] == "body"
