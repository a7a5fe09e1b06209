"""The whole system as a developer runs it: ./local/start.sh on MariaDB, real HTTP, local cron."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete

from common.db import make_engine
from common.models import job_attempts, jobs
from tests.e2e.stack import LocalStack, start_stack

FINAL = {"SUCCESS", "DLQ", "CANCELLED"}


@pytest.fixture(scope="module")
def stack(database_urls: dict[str, str]) -> Iterator[LocalStack]:
    url = database_urls["mariadb"]
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(delete(job_attempts))
        conn.execute(delete(jobs))
    engine.dispose()
    env = {"DATABASE_URL": url, "BACKOFF_BASE_SECONDS": "0.1", "BACKOFF_JITTER": "0"}
    stack = start_stack(env)
    yield stack
    if stack.process.poll() is None:
        stack.stop()


def test_local_cron_runs_submitted_jobs_to_their_final_status(stack: LocalStack) -> None:
    submitted = {
        "noop": {"type": "noop"},
        "sleep": {"type": "sleep", "payload": {"seconds": 0.2}},
        "retried": {"type": "fail", "payload": {"times": 1}, "max_attempts": 3},
        "dead": {"type": "fail", "payload": {"times": 2, "message": "boom"}, "max_attempts": 2},
        "delayed": {"type": "noop", "delay_seconds": 2},
    }
    ids = {}
    for name, body in submitted.items():
        status, job = stack.call("POST", "/jobs", body)
        assert status == 201, job
        assert job["status"] == "CREATED"
        ids[name] = job["id"]

    final = {name: stack.wait_for_status(i, FINAL, seconds=90) for name, i in ids.items()}

    assert {name: job["status"] for name, job in final.items()} == {
        "noop": "SUCCESS",
        "sleep": "SUCCESS",
        "retried": "SUCCESS",
        "dead": "DLQ",
        "delayed": "SUCCESS",
    }
    assert final["retried"]["attempts"] == 2
    assert final["dead"]["attempts"] == 2
    assert final["dead"]["last_error"] == "JobError: boom"


def test_a_dead_lettered_job_retried_through_update_runs_again(stack: LocalStack) -> None:
    status, job = stack.call(
        "POST", "/jobs", {"type": "fail", "payload": {"times": 1}, "max_attempts": 1}
    )
    assert status == 201
    assert stack.wait_for_status(job["id"], FINAL, seconds=90)["status"] == "DLQ"

    status, answer = stack.call("POST", "/jobs/update", {"action": "retry", "ids": [job["id"]]})
    assert (status, answer) == (200, {"updated": 1})

    again = stack.wait_for_status(job["id"], FINAL, seconds=90)
    assert again["status"] == "SUCCESS"
    assert [a["outcome"] for a in again["attempt_history"]] == ["error", "success"]


def test_requests_without_the_token_are_refused(stack: LocalStack) -> None:
    stack.token, token = "wrong", stack.token
    try:
        status, answer = stack.call("GET", "/jobs")
    finally:
        stack.token = token
    assert status == 401
    assert answer["error"]["code"] == "unauthorized"


def test_ctrl_c_stops_the_stack_cleanly(stack: LocalStack) -> None:
    output = stack.stop()
    assert stack.process.returncode == 0, output
    assert "skiplock local stack is up" in output
    assert "cron  worker-tick: POST /ticks/work" in output
    assert output.rstrip().endswith("stopped")
