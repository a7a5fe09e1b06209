"""The ticks: POST /ticks/schedule (schedule_tick) and POST /ticks/work (worker_tick).

A worker tick runs until its budget is spent unless ``max_jobs`` ends it sooner, and it never
starts a job whose timeout does not fit in what is left of its budget (noop and fail have 1 s),
so the tests give a budget of a few seconds and as many ``max_jobs`` as they expect jobs.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine

from common.states import Status
from tests.factories import expire_lease, make_job, status_of
from tests.functions.client import Configure, FunctionClient, Functions, error_of, submit

BUDGET_SECONDS = 5
SCHEDULE_SUMMARY = {
    "promoted",
    "retried",
    "recovered",
    "dead_lettered",
    "expired",
    "pruned",
    "recurring_enqueued",
}
WORK_SUMMARY = {
    "promoted",
    "claimed",
    "succeeded",
    "failed",
    "dead_lettered",
    "timed_out",
    "released",
    "did_not_fit",
    "lease_lost",
}


def work(functions: Functions, **body: Any) -> dict[str, int]:
    response = functions.worker_tick.post(
        "/ticks/work", json={"budget_seconds": BUDGET_SECONDS, **body}
    )
    assert response.status_code == 200, response.text
    return dict(response.get_json())


def schedule(functions: Functions, budget_seconds: float = 5) -> dict[str, int]:
    response = functions.schedule_tick.post(
        "/ticks/schedule", json={"budget_seconds": budget_seconds}
    )
    assert response.status_code == 200, response.text
    return dict(response.get_json())


def job(functions: Functions, job_id: int) -> dict[str, Any]:
    response = functions.list_jobs.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.get_json())


def test_a_worker_tick_runs_submitted_jobs_to_success(functions: Functions) -> None:
    ids = [submit(functions, type="noop")["id"] for _ in range(3)]

    summary = work(functions, max_jobs=3)

    assert set(summary) == WORK_SUMMARY
    assert summary["promoted"] == summary["claimed"] == summary["succeeded"] == 3
    for job_id in ids:
        done = job(functions, job_id)
        assert done["status"] == "SUCCESS"
        assert done["attempts"] == 1
        assert done["started_at"] is not None and done["finished_at"] is not None
        assert [a["outcome"] for a in done["attempt_history"]] == ["success"]


def test_a_worker_tick_stores_what_the_handler_returned(functions: Functions) -> None:
    job_id = submit(functions, type="sleep", payload={"seconds": 0.01})["id"]

    summary = work(functions, max_jobs=1, budget_seconds=40)  # sleep's timeout is 30 s

    assert summary["succeeded"] == 1
    assert job(functions, job_id)["result"] == {"slept": 0.01}


def test_a_failing_job_with_one_attempt_is_dead_lettered_and_retry_brings_it_back(
    functions: Functions,
) -> None:
    job_id = submit(functions, type="fail", payload={"times": 1}, max_attempts=1)["id"]

    assert work(functions, max_jobs=1)["dead_lettered"] == 1
    dead = job(functions, job_id)
    assert dead["status"] == "DLQ"
    assert dead["last_error"] == "JobError: failed on purpose"
    assert [a["outcome"] for a in dead["attempt_history"]] == ["error"]

    retried = functions.update_jobs.post("/jobs/update", json={"action": "retry", "ids": [job_id]})
    assert retried.get_json() == {"updated": 1}
    assert job(functions, job_id)["status"] == "SCHEDULED"

    assert work(functions, max_jobs=1)["succeeded"] == 1
    done = job(functions, job_id)
    assert done["status"] == "SUCCESS"
    assert done["result"] == {"succeeded_on_attempt": 2}
    assert [a["outcome"] for a in done["attempt_history"]] == ["error", "success"]


def test_a_failed_attempt_waits_for_its_backoff_then_the_schedule_tick_retries_it(
    functions: Functions, configure: Configure, engine: Engine
) -> None:
    configure(BACKOFF_BASE_SECONDS="0.01", BACKOFF_JITTER="0")
    job_id = submit(functions, type="fail", payload={"times": 1}, max_attempts=2)["id"]

    assert work(functions, max_jobs=1)["failed"] == 1
    assert job(functions, job_id)["status"] == "FAILED"
    time.sleep(0.1)  # the backoff after attempt 1: 0.01 s * 2**1

    assert schedule(functions)["retried"] == 1
    assert status_of(engine, job_id) == Status.SCHEDULED


def test_the_schedule_tick_promotes_due_jobs_and_answers_its_summary(
    functions: Functions, engine: Engine
) -> None:
    due = submit(functions, type="noop")["id"]
    later = submit(functions, type="noop", delay_seconds=3600)["id"]

    summary = schedule(functions)

    assert summary == {
        "promoted": 1,
        "retried": 0,
        "recovered": 0,
        "dead_lettered": 0,
        "expired": 0,
        "pruned": 0,
        "recurring_enqueued": 0,
    }
    assert status_of(engine, due) == Status.SCHEDULED
    assert status_of(engine, later) == Status.CREATED


def test_the_schedule_tick_recovers_a_job_whose_lease_expired(
    functions: Functions, engine: Engine
) -> None:
    job_id = make_job(engine, Status.RUNNING)
    expire_lease(engine, job_id)

    assert schedule(functions)["recovered"] == 1
    assert status_of(engine, job_id) == Status.SCHEDULED


def test_a_worker_tick_takes_jobs_of_the_given_queues_only(functions: Functions) -> None:
    wanted = submit(functions, type="noop", queue="wanted")["id"]
    other = submit(functions, type="noop", queue="other")["id"]

    assert work(functions, max_jobs=1, queues=["wanted"])["succeeded"] == 1
    assert job(functions, wanted)["status"] == "SUCCESS"
    assert job(functions, other)["status"] in {"CREATED", "SCHEDULED"}


def test_a_short_worker_tick_runs_a_job_whose_timeout_is_longer_than_the_tick(
    functions: Functions,
) -> None:
    job_id = submit(functions, type="sleep", payload={"seconds": 0.05})["id"]  # timeout 30 s

    summary = work(functions, budget_seconds=2)

    assert (summary["succeeded"], summary["released"]) == (1, 0)
    assert job(functions, job_id)["status"] == "SUCCESS"


def test_a_worker_tick_hands_back_at_once_a_job_it_expects_to_outlast_it(
    functions: Functions,
) -> None:
    job_id = submit(functions, type="sleep", payload={"seconds": 3})["id"]  # expects 3 s

    summary = work(functions, budget_seconds=1)

    assert (summary["claimed"], summary["released"], summary["did_not_fit"]) == (1, 1, 1)
    answered = job(functions, job_id)
    assert (answered["status"], answered["attempts"], answered["started_at"]) == (
        "SCHEDULED",
        0,
        None,
    )


def test_both_ticks_accept_an_empty_body(functions: Functions, configure: Configure) -> None:
    configure(SCHEDULE_BUDGET_SECONDS="0.2", WORKER_HTTP_BUDGET_SECONDS="0.2")

    scheduled = functions.schedule_tick.post("/ticks/schedule")
    worked = functions.worker_tick.post("/ticks/work")

    assert scheduled.status_code == worked.status_code == 200
    assert set(scheduled.get_json()) == SCHEDULE_SUMMARY
    assert worked.get_json() == dict.fromkeys(WORK_SUMMARY, 0)


def test_a_worker_tick_whose_budget_runs_out_while_it_polls_answers_200(
    functions: Functions, configure: Configure
) -> None:
    configure(WORKER_POLL_SECONDS="0.05")

    for _ in range(40):  # a 1 ms budget is spent by the claim and promote queries, mostly
        response = functions.worker_tick.post("/ticks/work", json={"budget_seconds": 0.001})
        assert response.status_code == 200


TICKS = [
    pytest.param("schedule_tick", "/ticks/schedule", id="schedule"),
    pytest.param("worker_tick", "/ticks/work", id="work"),
]
INVALID_TICKS: list[tuple[str, Any, str]] = [
    ("not JSON", "{budget", "body"),
    ("a JSON array", [], "body"),
    ("an unknown field", {"budget": 1}, "budget"),
    ("a budget of 0", {"budget_seconds": 0}, "budget_seconds"),
    ("a negative budget", {"budget_seconds": -1}, "budget_seconds"),
    ("a budget over 50 seconds", {"budget_seconds": 51}, "budget_seconds"),
    ("a budget that is a string", {"budget_seconds": "5"}, "budget_seconds"),
    ("a budget that is true", {"budget_seconds": True}, "budget_seconds"),
]
INVALID_WORK_TICKS: list[tuple[str, Any, str]] = [
    ("max_jobs 0", {"max_jobs": 0}, "max_jobs"),
    ("max_jobs that is a float", {"max_jobs": 1.5}, "max_jobs"),
    ("queues that are a string", {"queues": "default"}, "queues"),
    ("no queues", {"queues": []}, "queues"),
    ("51 queues", {"queues": [f"q{n}" for n in range(51)]}, "queues"),
    ("a queue that is a number", {"queues": [1]}, "queues[0]"),
    ("a queue name with a space", {"queues": ["mail", "bulk mail"]}, "queues[1]"),
    ("an empty queue name", {"queues": ["mail", "bulk", ""]}, "queues[2]"),
    ("a queue name of 65 characters", {"queues": ["q" * 65]}, "queues[0]"),
    ("a queue name ending in a newline", {"queues": ["mail\n"]}, "queues[0]"),
]


def post_tick(client: FunctionClient, path: str, body: Any) -> Any:
    """POST ``body`` to a tick: a str as it is, anything else as JSON."""
    if isinstance(body, str):
        return client.post(path, data=body)
    return client.post(path, json=body)


@pytest.mark.parametrize(("target", "path"), TICKS)
@pytest.mark.parametrize(
    ("body", "field"),
    [pytest.param(body, field, id=name) for name, body, field in INVALID_TICKS],
)
def test_an_invalid_tick_body_is_refused_with_400_naming_the_field(
    functions: Functions, target: str, path: str, body: Any, field: str
) -> None:
    response = post_tick(functions.target(target), path, body)

    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [pytest.param(body, field, id=name) for name, body, field in INVALID_WORK_TICKS],
)
def test_an_invalid_worker_tick_option_is_refused_with_400_naming_it(
    functions: Functions, body: Any, field: str
) -> None:
    # a short budget: should the option be accepted after all, the tick is over at once
    response = post_tick(functions.worker_tick, "/ticks/work", {"budget_seconds": 0.5, **body})

    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"max_jobs": 1}, "max_jobs", id="max_jobs"),
        pytest.param({"queues": ["default"]}, "queues", id="queues"),
        pytest.param({"budget_seconds": 1, "max_jobs": None}, "max_jobs", id="max_jobs-null"),
    ],
)
def test_the_schedule_tick_refuses_the_worker_ticks_options_it_would_ignore(
    functions: Functions, body: dict[str, Any], field: str
) -> None:
    response = functions.schedule_tick.post("/ticks/schedule", json=body)

    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == field
    assert error_of(response)["message"].startswith(f"unknown field {field!r}")


def test_a_worker_tick_accepts_up_to_50_valid_queue_names(functions: Functions) -> None:
    queues = ["mail", "a.b:c-d_e", "Q" * 64] + [f"q{n}" for n in range(47)]

    assert work(functions, max_jobs=1, budget_seconds=0.5, queues=queues)["claimed"] == 0


def test_a_schedule_tick_may_run_at_most_20_seconds_by_default(functions: Functions) -> None:
    response = functions.schedule_tick.post("/ticks/schedule", json={"budget_seconds": 21})

    assert response.status_code == 400
    assert error_of(response)["field"] == "budget_seconds"
    assert "at most 20" in error_of(response)["message"]
    assert schedule(functions, budget_seconds=20)["promoted"] == 0


def test_schedule_budget_seconds_sets_the_schedule_ticks_longest_budget(
    functions: Functions, configure: Configure
) -> None:
    configure(SCHEDULE_BUDGET_SECONDS="30")

    too_long = functions.schedule_tick.post("/ticks/schedule", json={"budget_seconds": 31})

    assert too_long.status_code == 400
    assert "at most 30" in error_of(too_long)["message"]
    assert schedule(functions, budget_seconds=30)["promoted"] == 0


@pytest.mark.parametrize(("target", "path"), TICKS)
def test_a_tick_body_over_max_payload_bytes_is_refused_with_413(
    functions: Functions, configure: Configure, target: str, path: str
) -> None:
    configure(MAX_PAYLOAD_BYTES="64")

    response = functions.target(target).post(path, json={"queues": ["q" * 64]})

    assert response.status_code == 413


@pytest.mark.parametrize(("target", "path"), TICKS)
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_a_tick_refuses_other_methods_with_405(
    functions: Functions, target: str, path: str, method: str
) -> None:
    response = functions.target(target).request(method, path)

    assert response.status_code == 405
    assert "POST" in error_of(response)["message"]
