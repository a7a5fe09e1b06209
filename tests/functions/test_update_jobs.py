"""update_jobs: POST /jobs/update retries or cancels jobs, by ids or by filter; GET is refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from common.states import Status
from tests.factories import make_job, statuses
from tests.functions.client import Configure, Functions, error_of

S = Status


def update(functions: Functions, body: dict[str, Any]) -> int:
    response = functions.update_jobs.post("/jobs/update", json=body)
    assert response.status_code == 200, response.text
    return int(response.get_json()["updated"])


def test_retry_by_ids_schedules_failed_and_dead_lettered_jobs_only(
    functions: Functions, engine: Engine
) -> None:
    failed, dead, done = (make_job(engine, s) for s in (S.FAILED, S.DLQ, S.SUCCESS))

    assert update(functions, {"action": "retry", "ids": [failed, dead, done, 999999]}) == 2
    assert statuses(engine) == {failed: S.SCHEDULED, dead: S.SCHEDULED, done: S.SUCCESS}


def test_cancel_by_ids_cancels_jobs_not_yet_running(functions: Functions, engine: Engine) -> None:
    created, running = make_job(engine, S.CREATED), make_job(engine, S.RUNNING)

    assert update(functions, {"action": "cancel", "ids": [created, running]}) == 1
    assert statuses(engine) == {created: S.CANCELLED, running: S.RUNNING}


def test_an_action_by_filter_changes_the_matching_jobs_only(
    functions: Functions, engine: Engine
) -> None:
    mail = make_job(engine, S.FAILED, type="email", queue="mail")
    other_queue = make_job(engine, S.FAILED, type="email", queue="bulk")
    other_type = make_job(engine, S.FAILED, type="pdf", queue="mail")
    scheduled = make_job(engine, S.SCHEDULED, type="email", queue="mail")

    body = {"action": "cancel", "filter": {"status": "failed", "type": "email", "queue": "mail"}}
    assert update(functions, body) == 1
    assert statuses(engine) == {
        mail: S.CANCELLED,
        other_queue: S.FAILED,
        other_type: S.FAILED,
        scheduled: S.SCHEDULED,
    }


def test_a_filter_of_all_true_applies_the_action_to_every_job_it_can_move(
    functions: Functions, engine: Engine
) -> None:
    failed, dead, running = (make_job(engine, s) for s in (S.FAILED, S.DLQ, S.RUNNING))

    assert update(functions, {"action": "retry", "filter": {"all": True}}) == 2
    assert statuses(engine) == {failed: S.SCHEDULED, dead: S.SCHEDULED, running: S.RUNNING}


@pytest.mark.parametrize(
    "where",
    [{}, {"all": False}, {"status": None, "type": None, "queue": None}, {"type": "", "queue": ""}],
    ids=["empty", "all-false", "nulls", "empty-strings"],
)
def test_a_filter_that_would_match_every_job_without_saying_all_is_refused(
    functions: Functions, engine: Engine, where: dict[str, Any]
) -> None:
    failed = make_job(engine, S.FAILED)

    response = functions.update_jobs.post(
        "/jobs/update", json={"action": "cancel", "filter": where}
    )

    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == "filter"
    assert '"all": true' in error_of(response)["message"]
    assert statuses(engine) == {failed: S.FAILED}


def test_all_false_with_a_narrowing_field_is_an_ordinary_filter(
    functions: Functions, engine: Engine
) -> None:
    mail = make_job(engine, S.FAILED, queue="mail")
    other = make_job(engine, S.FAILED, queue="other")

    assert update(functions, {"action": "cancel", "filter": {"all": False, "queue": "mail"}}) == 1
    assert statuses(engine) == {mail: S.CANCELLED, other: S.FAILED}


def test_a_filter_status_the_action_cannot_move_is_refused_with_409(
    functions: Functions, engine: Engine
) -> None:
    done = make_job(engine, S.SUCCESS)

    response = functions.update_jobs.post(
        "/jobs/update", json={"action": "retry", "filter": {"status": "SUCCESS"}}
    )

    assert response.status_code == 409
    assert error_of(response)["code"] == "illegal_transition"
    assert statuses(engine) == {done: S.SUCCESS}


def test_get_jobs_update_is_refused_with_405_saying_to_post(
    functions: Functions, engine: Engine
) -> None:
    failed = make_job(engine, S.FAILED)

    response = functions.update_jobs.get(
        "/jobs/update", query={"action": "retry", "ids": str(failed)}
    )

    assert response.status_code == 405
    assert error_of(response)["field"] == "method"
    assert "POST /jobs/update" in error_of(response)["message"]
    assert statuses(engine) == {failed: S.FAILED}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_update_jobs_refuses_other_methods_with_405(functions: Functions, method: str) -> None:
    response = functions.update_jobs.request(method, "/jobs/update", json={"action": "retry"})

    assert response.status_code == 405
    assert "POST" in error_of(response)["message"]


def test_a_body_over_max_payload_bytes_is_refused_with_413(
    functions: Functions, configure: Configure, engine: Engine
) -> None:
    configure(MAX_PAYLOAD_BYTES="100")
    failed = make_job(engine, S.FAILED)
    body = {"action": "retry", "ids": [failed] + [999_999_999] * 20}

    response = functions.update_jobs.post("/jobs/update", json=body)

    assert response.status_code == 413
    assert statuses(engine) == {failed: S.FAILED}


INVALID_UPDATES: list[tuple[str, Any, str]] = [
    ("not JSON", "action=retry", "body"),
    ("a JSON array", [1, 2], "body"),
    ("no action", {"ids": [1]}, "action"),
    ("an unknown action", {"action": "delete", "ids": [1]}, "action"),
    ("an action that is a list", {"action": ["retry"], "ids": [1]}, "action"),
    ("neither ids nor filter", {"action": "retry"}, "ids"),
    ("both ids and filter", {"action": "retry", "ids": [1], "filter": {}}, "ids"),
    ("ids that are no list", {"action": "retry", "ids": "1,2"}, "ids"),
    ("an id of 0", {"action": "retry", "ids": [0]}, "ids"),
    ("an id that is a string", {"action": "retry", "ids": ["1"]}, "ids"),
    ("an id that is true", {"action": "retry", "ids": [True]}, "ids"),
    ("an id beyond 64 bits", {"action": "retry", "ids": [2**63]}, "ids"),
    ("10001 ids", {"action": "retry", "ids": list(range(1, 10_002))}, "ids"),
    ("a filter that is no object", {"action": "retry", "filter": "FAILED"}, "filter"),
    ("an unknown filter field", {"action": "retry", "filter": {"kind": "x"}}, "filter.kind"),
    ("an unknown status", {"action": "retry", "filter": {"status": "DONE"}}, "filter.status"),
    ("a status that is a number", {"action": "retry", "filter": {"status": 4}}, "filter.status"),
    ("a type that is a number", {"action": "cancel", "filter": {"type": 4}}, "filter.type"),
    ("all that is no boolean", {"action": "retry", "filter": {"all": "yes"}}, "filter.all"),
    (
        "all true with a status",
        {"action": "retry", "filter": {"all": True, "status": "FAILED"}},
        "filter.all",
    ),
    (
        "all true with a queue",
        {"action": "cancel", "filter": {"all": True, "queue": "q"}},
        "filter.all",
    ),
    ("an unknown field", {"action": "retry", "ids": [1], "force": True}, "force"),
]


@pytest.mark.parametrize(
    ("body", "field"),
    [pytest.param(body, field, id=name) for name, body, field in INVALID_UPDATES],
)
def test_an_invalid_update_is_refused_with_400_naming_the_field(
    functions: Functions, engine: Engine, body: Any, field: str
) -> None:
    failed = make_job(engine, S.FAILED)
    if isinstance(body, str):
        response = functions.update_jobs.post("/jobs/update", data=body)
    else:
        response = functions.update_jobs.post("/jobs/update", json=body)

    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == field
    assert statuses(engine) == {failed: S.FAILED}


def test_a_filter_by_fingerprint_retries_one_dlq_group(
    functions: Functions, engine: Engine
) -> None:
    group = make_job(engine, S.DLQ, error_fingerprint="a" * 16)
    other = make_job(engine, S.DLQ, error_fingerprint="b" * 16)

    assert update(functions, {"action": "retry", "filter": {"fingerprint": "a" * 16}}) == 1
    assert update(functions, {"action": "cancel", "filter": {"fingerprint": "b" * 16}}) == 1
    assert statuses(engine) == {group: S.SCHEDULED, other: S.CANCELLED}


def test_a_fingerprint_with_all_true_is_refused(functions: Functions, engine: Engine) -> None:
    response = functions.update_jobs.post(
        "/jobs/update", json={"action": "retry", "filter": {"fingerprint": "a", "all": True}}
    )
    assert response.status_code == 400
    assert error_of(response)["field"] == "filter.all"
