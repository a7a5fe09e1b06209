"""submit_job: POST /jobs (and /jobs/add-job) enqueues one job, POST /jobs/bulk many at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.factories import count_rows
from tests.functions.client import Configure, Functions, error_of, submit

JOB_FIELDS = {
    "id",
    "type",
    "queue",
    "status",
    "priority",
    "payload",
    "run_at",
    "attempts",
    "max_attempts",
    "last_error",
    "result",
    "locked_until",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
}


def moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


@pytest.mark.parametrize("path", ["/jobs", "/jobs/add-job"])
def test_a_new_job_is_created_with_the_defaults_and_answered_with_201(
    functions: Functions, path: str
) -> None:
    response = functions.submit_job.post(path, json={"type": "noop"})

    assert response.status_code == 201
    job = response.get_json()
    assert set(job) >= JOB_FIELDS
    assert job["type"] == "noop"
    assert job["queue"] == "default"
    assert job["status"] == "CREATED"
    assert (job["priority"], job["payload"], job["attempts"], job["max_attempts"]) == (0, {}, 0, 5)
    assert job["last_error"] is None and job["result"] is None and job["locked_until"] is None
    assert job["started_at"] is None and job["finished_at"] is None
    for name in ("run_at", "created_at", "updated_at"):
        assert job[name].endswith("Z"), f"{name} is not ISO-8601 UTC: {job[name]}"
    assert moment(job["run_at"]) == moment(job["created_at"])


def test_a_new_job_keeps_every_field_given(functions: Functions) -> None:
    job = submit(
        functions,
        type="sleep",
        payload={"seconds": 0.5},
        queue="reports",
        priority=7,
        run_at="2030-01-01T09:30:00+02:00",
        max_attempts=3,
        idempotency_key="report-42",
    )

    assert (job["type"], job["payload"], job["queue"]) == ("sleep", {"seconds": 0.5}, "reports")
    assert (job["priority"], job["max_attempts"]) == (7, 3)
    assert job["run_at"] == "2030-01-01T07:30:00Z"


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "noop"},
        {
            "type": "noop",
            "payload": {"seconds": 0.5, "note": "déjà vu ✓", "tags": [1, 2.5, None, True]},
            "queue": "reports",
            "priority": -3,
            "delay_seconds": 30,
            "max_attempts": 2,
            "idempotency_key": "k-1",
            "concurrency_key": "customer-7",
            "not_after": "2030-01-01T00:00:00Z",
            "callback_url": "http://127.0.0.1:9/done",
        },
    ],
    ids=["defaults", "every-field"],
)
def test_the_answer_to_a_submission_is_the_job_as_stored(
    functions: Functions, configure: Configure, fields: dict[str, Any]
) -> None:
    configure(WEBHOOK_SECRET="s", WEBHOOK_ALLOW_PRIVATE="true")
    answered = submit(functions, **fields)

    stored = functions.list_jobs.get(f"/jobs/{answered['id']}").get_json()

    assert answered == {name: stored[name] for name in answered}
    assert set(answered) >= JOB_FIELDS


def test_delay_seconds_puts_run_at_that_long_after_creation(functions: Functions) -> None:
    job = submit(functions, type="noop", delay_seconds=90)

    assert moment(job["run_at"]) - moment(job["created_at"]) == timedelta(seconds=90)


def test_the_same_idempotency_key_again_answers_200_with_the_same_job(
    functions: Functions, engine: Engine
) -> None:
    body = {"type": "noop", "idempotency_key": "order-1"}
    first = functions.submit_job.post("/jobs", json=body)
    again = functions.submit_job.post("/jobs", json={**body, "priority": 9})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert count_rows(engine) == 1


def test_the_idempotency_key_header_works_like_the_body_field(
    functions: Functions, engine: Engine
) -> None:
    headers = {"Idempotency-Key": "order-2"}
    first = functions.submit_job.post("/jobs", json={"type": "noop"}, headers=headers)
    by_header = functions.submit_job.post("/jobs/add-job", json={"type": "noop"}, headers=headers)
    by_body = functions.submit_job.post(
        "/jobs", json={"type": "noop", "idempotency_key": "order-2"}
    )

    assert (first.status_code, by_header.status_code, by_body.status_code) == (201, 200, 200)
    assert first.get_json()["id"] == by_header.get_json()["id"] == by_body.get_json()["id"]
    assert first.get_json()["idempotency_key"] == "order-2"
    assert count_rows(engine) == 1


def test_an_idempotency_key_is_unique_within_its_queue_only(functions: Functions) -> None:
    one = submit(functions, type="noop", queue="a", idempotency_key="k")
    other = submit(functions, type="noop", queue="b", idempotency_key="k")

    assert one["id"] != other["id"]


def test_a_header_key_differing_from_the_body_key_is_refused(
    functions: Functions, engine: Engine
) -> None:
    response = functions.submit_job.post(
        "/jobs",
        json={"type": "noop", "idempotency_key": "a"},
        headers={"Idempotency-Key": "b"},
    )

    assert response.status_code == 400
    assert error_of(response)["field"] == "idempotency_key"
    assert count_rows(engine) == 0


INVALID_JOBS: list[tuple[str, Any, str]] = [
    ("not JSON", "{type: noop", "body"),
    ("a JSON array", [{"type": "noop"}], "body"),
    ("no type", {"payload": {}}, "type"),
    ("a type that is not a string", {"type": 5}, "type"),
    ("an unknown job type", {"type": "no-such-type"}, "type"),
    ("an unknown field", {"type": "noop", "colour": "red"}, "colour"),
    ("a payload that is not an object", {"type": "noop", "payload": [1]}, "payload"),
    (
        "a payload field of the wrong type",
        {"type": "sleep", "payload": {"seconds": "x"}},
        "payload.seconds",
    ),
    ("a payload missing a field", {"type": "sleep", "payload": {}}, "payload.seconds"),
    ("a payload with an unknown field", {"type": "fail", "payload": {"tims": 1}}, "payload.tims"),
    ("a queue that is not a string", {"type": "noop", "queue": 5}, "queue"),
    ("a queue with a space", {"type": "noop", "queue": "my queue"}, "queue"),
    ("a priority that is a string", {"type": "noop", "priority": "high"}, "priority"),
    ("a priority that is a float", {"type": "noop", "priority": 1.5}, "priority"),
    ("a priority beyond 32 bits", {"type": "noop", "priority": 2**31}, "priority"),
    ("max_attempts 0", {"type": "noop", "max_attempts": 0}, "max_attempts"),
    ("max_attempts true", {"type": "noop", "max_attempts": True}, "max_attempts"),
    ("run_at without an offset", {"type": "noop", "run_at": "2030-01-01T09:00:00"}, "run_at"),
    ("run_at that is no time", {"type": "noop", "run_at": "tomorrow"}, "run_at"),
    ("run_at that is a number", {"type": "noop", "run_at": 1893456000}, "run_at"),
    (
        "both run_at and delay_seconds",
        {"type": "noop", "run_at": "2030-01-01T09:00:00Z", "delay_seconds": 5},
        "run_at",
    ),
    ("a negative delay", {"type": "noop", "delay_seconds": -1}, "delay_seconds"),
    ("a delay that is a string", {"type": "noop", "delay_seconds": "5"}, "delay_seconds"),
    ("an empty idempotency key", {"type": "noop", "idempotency_key": ""}, "idempotency_key"),
    (
        "an idempotency key of 256 characters",
        {"type": "noop", "idempotency_key": "k" * 256},
        "idempotency_key",
    ),
]


@pytest.mark.parametrize(
    ("body", "field"),
    [pytest.param(body, field, id=name) for name, body, field in INVALID_JOBS],
)
def test_an_invalid_job_is_refused_with_400_naming_the_field(
    functions: Functions, engine: Engine, body: Any, field: str
) -> None:
    if isinstance(body, str):
        response = functions.submit_job.post("/jobs", data=body)
    else:
        response = functions.submit_job.post("/jobs", json=body)

    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "invalid"
    assert error_of(response)["field"] == field
    assert count_rows(engine) == 0


def test_a_body_over_max_payload_bytes_is_refused_with_413(
    functions: Functions, configure: Configure, engine: Engine
) -> None:
    configure(MAX_PAYLOAD_BYTES="200")
    job = {"type": "noop", "payload": {}}
    fits = functions.submit_job.post("/jobs", json={**job, "payload": {"pad": "x" * 100}})
    too_large = functions.submit_job.post("/jobs", json={**job, "payload": {"pad": "x" * 200}})

    assert fits.status_code == 201
    assert too_large.status_code == 413
    assert error_of(too_large) == {
        "code": "payload_too_large",
        "message": "the body is over MAX_PAYLOAD_BYTES (200 bytes)",
        "field": "body",
    }
    assert count_rows(engine) == 1


@pytest.mark.parametrize("path", ["/jobs", "/jobs/add-job", "/jobs/bulk"])
def test_every_submit_path_refuses_a_body_over_max_payload_bytes_before_reading_it(
    functions: Functions, configure: Configure, engine: Engine, path: str
) -> None:
    configure(MAX_PAYLOAD_BYTES="200")

    response = functions.submit_job.post(path, data="x" * 201)  # not even JSON

    assert response.status_code == 413
    assert error_of(response)["field"] == "body"
    assert count_rows(engine) == 0


def test_max_payload_bytes_is_256_kib_by_default(functions: Functions, engine: Engine) -> None:
    padding = 256 * 1024 - len('{"type": "noop", "payload": {"pad": ""}}')
    at_limit = {"type": "noop", "payload": {"pad": "x" * padding}}
    over_limit = {"type": "noop", "payload": {"pad": "x" * (padding + 1)}}

    assert functions.submit_job.post("/jobs", json=at_limit).status_code == 201
    assert functions.submit_job.post("/jobs", json=over_limit).status_code == 413
    assert count_rows(engine) == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_submit_job_refuses_other_methods_with_405(functions: Functions, method: str) -> None:
    response = functions.submit_job.request(method, "/jobs")

    assert response.status_code == 405
    assert error_of(response)["field"] == "method"
    assert "POST" in error_of(response)["message"]


def test_bulk_enqueues_every_job_and_answers_their_ids_with_201(
    functions: Functions, engine: Engine
) -> None:
    jobs = [{"type": "noop", "priority": n} for n in range(5)] + [
        {"type": "sleep", "payload": {"seconds": 1}, "queue": "slow"}
    ]

    response = functions.submit_job.post("/jobs/bulk", json={"jobs": jobs})

    assert response.status_code == 201
    answer = response.get_json()
    assert answer["count"] == 6 and len(set(answer["ids"])) == 6
    listed = functions.list_jobs.get("/jobs", query={"limit": "10"}).get_json()["jobs"]
    by_id = {job["id"]: job for job in listed}
    assert [by_id[i]["priority"] for i in answer["ids"][:5]] == [0, 1, 2, 3, 4]
    assert by_id[answer["ids"][5]]["queue"] == "slow"
    assert count_rows(engine) == 6


def test_bulk_takes_1000_jobs_in_one_request(functions: Functions, engine: Engine) -> None:
    response = functions.submit_job.post("/jobs/bulk", json={"jobs": [{"type": "noop"}] * 1000})

    assert response.status_code == 201
    assert response.get_json()["count"] == 1000
    assert count_rows(engine) == 1000


def test_bulk_answers_the_existing_id_for_a_known_idempotency_key(
    functions: Functions, engine: Engine
) -> None:
    existing = submit(functions, type="noop", idempotency_key="once")

    response = functions.submit_job.post(
        "/jobs/bulk", json={"jobs": [{"type": "noop"}, {"type": "noop", "idempotency_key": "once"}]}
    )

    assert response.status_code == 201
    assert response.get_json()["ids"][1] == existing["id"]
    assert count_rows(engine) == 2


def test_an_invalid_job_in_a_bulk_request_is_named_and_no_job_is_inserted(
    functions: Functions, engine: Engine
) -> None:
    jobs: list[Any] = [{"type": "noop"}] * 3 + [{"type": "missing"}] + [{"type": "noop"}]

    response = functions.submit_job.post("/jobs/bulk", json={"jobs": jobs})

    assert response.status_code == 400
    assert error_of(response)["field"] == "jobs[3].type"
    assert error_of(response)["message"].startswith("jobs[3]: ")
    assert count_rows(engine) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            {"jobs": [{"type": "noop"}, {"type": "sleep", "payload": {"seconds": "x"}}]},
            "jobs[1].payload.seconds",
            id="bad payload",
        ),
        pytest.param({"jobs": [{"type": "noop"}, "noop"]}, "jobs[1]", id="a job that is no object"),
        pytest.param({"jobs": []}, "jobs", id="no jobs"),
        pytest.param({"jobs": [{"type": "noop"}] * 1001}, "jobs", id="1001 jobs"),
        pytest.param({"jobs": {"type": "noop"}}, "jobs", id="jobs not a list"),
        pytest.param({}, "jobs", id="jobs missing"),
        pytest.param({"jobs": [{"type": "noop"}], "atomic": True}, "atomic", id="an unknown field"),
    ],
)
def test_an_invalid_bulk_request_is_refused_with_400_naming_the_field(
    functions: Functions, engine: Engine, body: Any, field: str
) -> None:
    response = functions.submit_job.post("/jobs/bulk", json=body)

    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == field
    assert count_rows(engine) == 0


def test_a_job_carries_its_concurrency_key(functions: Functions) -> None:
    job = submit(functions, type="noop", queue="tenants", concurrency_key="customer-42")
    assert job["concurrency_key"] == "customer-42"
    assert submit(functions, type="noop")["concurrency_key"] is None


@pytest.mark.parametrize("key", ["", "k" * 256, 42, ["a"]])
def test_a_bad_concurrency_key_is_refused_naming_it(functions: Functions, key: Any) -> None:
    response = functions.submit_job.post("/jobs", json={"type": "noop", "concurrency_key": key})
    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == "concurrency_key"
