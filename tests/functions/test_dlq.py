"""GET /dlq: the DLQ grouped by error fingerprint, as the OpenAPI document describes it."""

from __future__ import annotations

from sqlalchemy import Engine

from common.fingerprint import fingerprint
from common.states import Status
from tests.factories import make_jobs
from tests.functions.client import Functions, error_of, submit


def test_get_dlq_lists_the_groups_of_jobs_that_failed_alike(
    functions: Functions, engine: Engine
) -> None:
    for seconds in (1, 2, 3):
        submit(
            functions,
            type="fail",
            payload={"times": 1, "message": f"upstream took {seconds}.5 s"},
            max_attempts=1,
        )
    functions.schedule_tick.post("/ticks/schedule")
    functions.worker_tick.post("/ticks/work", json={"budget_seconds": 2})

    response = functions.list_jobs.get("/dlq")

    assert response.status_code == 200, response.text
    [group] = response.get_json()["groups"]
    assert group["count"] == 3 and group["type"] == "fail"
    assert group["pattern"] == "JobError: upstream took <n> s"
    assert group["fingerprint"] == fingerprint("fail", group["sample_error"])
    jobs = functions.list_jobs.get("/jobs", query={"status": "DLQ"}).get_json()["jobs"]
    assert {job["error_fingerprint"] for job in jobs} == {group["fingerprint"]}
    assert group["sample_job_id"] == max(job["id"] for job in jobs)


def test_get_dlq_takes_a_limit_and_refuses_other_parameters(
    functions: Functions, engine: Engine
) -> None:
    for error in ("a", "b"):
        make_jobs(
            engine, 1, Status.DLQ, last_error=error, error_fingerprint=fingerprint("x", error)
        )

    assert len(functions.list_jobs.get("/dlq", query={"limit": "1"}).get_json()["groups"]) == 1
    bad = functions.list_jobs.get("/dlq", query={"status": "DLQ"})
    assert bad.status_code == 400 and error_of(bad)["field"] == "status"
    assert error_of(functions.list_jobs.get("/dlq", query={"limit": "0"}))["field"] == "limit"
