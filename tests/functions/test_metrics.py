"""GET /metrics: Prometheus' text format, read from the database after a known workload and
parsed with prometheus_client's own parser."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from common.states import Status
from tests.factories import expire_lease, make_job
from tests.functions.client import Configure, Functions, error_of, submit

S = Status


def scrape(
    functions: Functions, **options: Any
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, by name and sorted labels."""
    response = functions.metrics.get("/metrics", **options)
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def labels(**given: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(given.items()))


def test_the_metrics_count_a_known_workload(functions: Functions, engine: Engine) -> None:
    for _ in range(3):
        submit(functions, type="noop")
    submit(functions, type="fail", payload={"times": 1}, max_attempts=1)  # DLQ
    submit(functions, type="fail", payload={"times": 1}, max_attempts=3)  # FAILED, waits
    submit(functions, type="noop", delay_seconds=3600)  # CREATED, not due
    crashed = make_job(engine, S.RUNNING, queue="mail", max_attempts=1)
    expire_lease(engine, crashed)  # the schedule tick records its attempt as lease_expired
    assert functions.schedule_tick.post("/ticks/schedule").status_code == 200
    assert functions.worker_tick.post("/ticks/work", json={"budget_seconds": 2}).status_code == 200
    submit(functions, type="noop", queue="late")  # due now, waiting: the oldest due job

    metrics = scrape(functions)

    def jobs(queue: str, status: str) -> float:
        return metrics[("skiplock_jobs", labels(queue=queue, status=status))]

    assert (jobs("default", "SUCCESS"), jobs("default", "DLQ"), jobs("default", "FAILED")) == (
        3,
        1,
        1,
    )
    assert (jobs("default", "CREATED"), jobs("default", "RUNNING"), jobs("mail", "DLQ")) == (
        1,
        0,
        1,
    )
    assert jobs("late", "CREATED") == 1
    attempts = "skiplock_job_attempts_total"
    assert metrics[(attempts, labels(queue="default", type="noop", outcome="success"))] == 3
    assert metrics[(attempts, labels(queue="default", type="fail", outcome="error"))] == 2
    assert metrics[(attempts, labels(queue="mail", type="noop", outcome="lease_expired"))] == 1
    assert metrics[("skiplock_leases_expired_total", labels(queue="mail"))] == 1
    assert metrics[("skiplock_leases_expired_total", labels(queue="default"))] == 0
    noop = {"queue": "default", "type": "noop"}
    duration = "skiplock_job_duration_seconds"
    assert metrics[(f"{duration}_count", labels(**noop))] == 3
    assert metrics[(f"{duration}_bucket", labels(**noop, le="+Inf"))] == 3
    assert metrics[(f"{duration}_bucket", labels(**noop, le="1.0"))] == 3
    assert 0 <= metrics[(f"{duration}_sum", labels(**noop))] < 3
    # Five started jobs of the default queue waited from due to start: all under the tick.
    wait = "skiplock_job_queue_wait_seconds"
    assert metrics[(f"{wait}_count", labels(queue="default"))] == 5
    assert metrics[(f"{wait}_bucket", labels(queue="default", le="10.0"))] == 5
    assert 0 <= metrics[("skiplock_oldest_due_job_age_seconds", labels(queue="late"))] < 60
    assert metrics[("skiplock_oldest_due_job_age_seconds", labels(queue="default"))] == 0


def test_any_instance_answers_the_same_numbers(functions: Functions, engine: Engine) -> None:
    make_job(engine, S.SUCCESS)
    first = scrape(functions)
    second = scrape(Functions())  # another instance: a new app and engine, the same database
    assert first == second


def test_the_metrics_need_the_api_token_when_it_is_set(
    functions: Functions, configure: Configure, db_url: str, engine: Engine
) -> None:
    configure(DATABASE_URL=db_url, API_TOKEN="secret")
    make_job(engine, S.SCHEDULED)

    refused = functions.metrics.get("/metrics")
    assert refused.status_code == 401 and error_of(refused)["field"] == "Authorization"
    assert scrape(functions, token="secret")


def test_the_metrics_take_no_query_parameters(functions: Functions) -> None:
    response = functions.metrics.get("/metrics", query={"name": "x"})
    assert response.status_code == 400 and error_of(response)["field"] == "name"
