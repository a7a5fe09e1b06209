"""The worker tick: claim, run and finish jobs within a time budget, with the real registry."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pydantic
from sqlalchemy import Engine

from common.errors import PermanentJobError
from common.handlers.builtin import register_builtins
from common.handlers.registry import Job, JobContext, Registry
from common.retry import BackoffPolicy
from common.states import Status
from common.worker import TickOptions, TickSummary, work_tick
from tests.factories import attempt_rows, db_now, job_row, make_job, make_jobs, statuses

S = Status
# Failed jobs are due again at once, so one tick can show a whole retry history.
NO_WAIT = BackoffPolicy(base_seconds=0, max_seconds=0, jitter=0)


class Greeting(pydantic.BaseModel):
    name: str


def registry_with(**handlers: Any) -> Registry:
    registry = Registry()
    register_builtins(registry)
    for name, handler in handlers.items():
        registry.job_type(name, timeout_seconds=2)(handler)
    return registry


def tick(engine: Engine, registry: Registry | None = None, **options: Any) -> TickSummary:
    settings: dict[str, Any] = {
        "worker_id": "tick-1",
        "budget_seconds": 60,
        "backoff": NO_WAIT,
        "stop_when_idle": True,
        **options,
    }
    return work_tick(engine, registry or registry_with(), TickOptions(**settings))


def test_a_tick_runs_due_jobs_to_success_and_stores_their_results(engine: Engine) -> None:
    ids = make_jobs(engine, 3, type="greet", payload={"name": "ada"})
    registry = registry_with(greet=lambda job, ctx: {"hello": job.payload["name"], "id": job.id})
    summary = tick(engine, registry, batch_size=2)
    assert summary == TickSummary(claimed=3, succeeded=3)
    for job_id in ids:
        row = job_row(engine, job_id)
        assert (row["status"], row["result"]) == (S.SUCCESS, {"hello": "ada", "id": job_id})
        assert [a["worker_id"] for a in attempt_rows(engine, job_id)] == ["tick-1"]


def test_a_tick_promotes_due_created_jobs_and_runs_them(engine: Engine) -> None:
    due = make_job(engine, S.CREATED, run_in=-1)
    later = make_job(engine, S.CREATED, run_in=600)
    summary = tick(engine)
    assert (summary.promoted, summary.succeeded) == (1, 1)
    assert statuses(engine) == {due: S.SUCCESS, later: S.CREATED}


def test_a_tick_starts_no_more_than_max_jobs(engine: Engine) -> None:
    make_jobs(engine, 5)
    summary = tick(engine, max_jobs=2, batch_size=10)
    assert (summary.claimed, summary.succeeded, summary.released) == (2, 2, 0)
    assert sorted(statuses(engine).values()) == sorted([S.SUCCESS] * 2 + [S.SCHEDULED] * 3)


def test_an_idle_tick_that_should_stop_when_idle_returns_at_once(engine: Engine) -> None:
    started = time.monotonic()
    assert tick(engine, budget_seconds=30) == TickSummary()
    assert time.monotonic() - started < 5


def test_an_idle_tick_keeps_polling_until_its_budget_is_spent(engine: Engine) -> None:
    started = time.monotonic()
    assert tick(engine, budget_seconds=0.5, stop_when_idle=False) == TickSummary()
    assert 0.5 <= time.monotonic() - started < 5


def test_a_busy_tick_stops_starting_jobs_when_its_budget_is_spent(engine: Engine) -> None:
    registry = Registry()
    registry.job_type("nap", timeout_seconds=0.2)(lambda job, ctx: time.sleep(0.1))
    make_jobs(engine, 30, type="nap")

    started = time.monotonic()
    summary = tick(engine, registry, budget_seconds=1, batch_size=5, concurrency=1)

    assert time.monotonic() - started < 2
    assert 3 <= summary.succeeded < 30
    after = statuses(engine).values()
    assert S.RUNNING not in after
    assert sorted(after).count(S.SUCCESS) == summary.succeeded


def test_the_worker_keeps_extending_the_lease_of_a_job_that_outlives_it(engine: Engine) -> None:
    seen: list[tuple[datetime, datetime]] = []

    def long(job: Job, ctx: JobContext) -> None:
        time.sleep(0.8)
        row = job_row(engine, job.id)
        seen.append((row["started_at"], row["locked_until"]))

    make_job(engine, type="long")
    summary = tick(engine, registry_with(long=long), lease_seconds=0.3)

    [(started_at, locked_until)] = seen
    assert locked_until > started_at + timedelta(seconds=0.5)
    assert (summary.succeeded, summary.lease_lost) == (1, 0)


def test_a_job_expected_to_outlast_the_tick_is_released_once_and_not_claimed_again(
    engine: Engine,
) -> None:
    ran: list[int] = []
    registry = Registry()
    registry.job_type("report", timeout_seconds=30)(lambda job, ctx: ran.append(job.id))
    job_id = make_job(engine, type="report")

    summary = tick(engine, registry, budget_seconds=1, stop_when_idle=False)

    assert ran == []  # expected: 1 s (the default, under its timeout); the tick had less left
    assert (summary.claimed, summary.released, summary.succeeded) == (1, 1, 0)
    assert summary.did_not_fit == 1
    row = job_row(engine, job_id)
    assert (row["status"], row["attempts"], row["lease_token"], row["locked_until"]) == (
        S.SCHEDULED,
        0,
        None,
        None,
    )
    assert attempt_rows(engine, job_id) == []


def test_a_job_that_does_not_fit_holds_back_none_of_the_jobs_behind_it(engine: Engine) -> None:
    registry = Registry()
    registry.job_type("quick", timeout_seconds=0.1)(lambda job, ctx: "done")
    registry.job_type("long", timeout_seconds=30, expected_seconds=5)(lambda job, ctx: "done")
    quick = make_job(engine, type="quick", priority=2)
    long = make_job(engine, type="long", priority=1)
    after = make_job(engine, type="quick", priority=0)

    summary = tick(engine, registry, budget_seconds=2, batch_size=3)

    assert (summary.succeeded, summary.released, summary.did_not_fit) == (2, 1, 1)
    assert statuses(engine) == {quick: S.SUCCESS, long: S.SCHEDULED, after: S.SUCCESS}
    assert job_row(engine, long)["attempts"] == 0


def test_a_whole_batch_that_does_not_fit_keeps_the_tick_claiming_the_jobs_behind_it(
    engine: Engine,
) -> None:
    registry = Registry()
    registry.job_type("quick", timeout_seconds=0.1)(lambda job, ctx: "done")
    registry.job_type("long", timeout_seconds=30, expected_seconds=5)(lambda job, ctx: "done")
    long = make_jobs(engine, 2, type="long", priority=1)
    quick = make_jobs(engine, 4, type="quick", priority=0)

    summary = tick(engine, registry, budget_seconds=2, batch_size=2)

    assert (summary.succeeded, summary.did_not_fit) == (4, 2)
    assert {statuses(engine)[i] for i in quick} == {S.SUCCESS}
    assert {statuses(engine)[i] for i in long} == {S.SCHEDULED}


def test_a_tick_that_cannot_finish_its_queue_hands_nothing_back_at_its_end(
    engine: Engine,
) -> None:
    # More short jobs than a 1.5 s tick can run: it runs them until no attempt may start any
    # more, and claims nothing after that only to give it back.
    make_jobs(engine, 2000, type="sleep", payload={"seconds": 0.02})

    summary = tick(engine, budget_seconds=1.5, stop_when_idle=False, concurrency=10)

    assert summary.succeeded > 50
    assert (summary.released, summary.did_not_fit) == (0, 0)
    assert summary.claimed == summary.succeeded
    assert list(statuses(engine).values()).count(S.RUNNING) == 0


def test_a_job_of_an_unknown_type_goes_to_the_dlq_at_once(engine: Engine) -> None:
    job_id = make_job(engine, type="no-such-type", max_attempts=5)
    summary = tick(engine)
    assert (summary.claimed, summary.dead_lettered) == (1, 1)
    row = job_row(engine, job_id)
    assert (row["status"], row["attempts"]) == (S.DLQ, 1)
    assert "unknown job type 'no-such-type'" in row["last_error"]
    assert [a["outcome"] for a in attempt_rows(engine, job_id)] == ["permanent_error"]


def test_a_job_with_an_invalid_payload_goes_to_the_dlq_without_running(engine: Engine) -> None:
    ran: list[int] = []
    registry = Registry()
    registry.job_type("greet", payload=Greeting)(lambda job, ctx: ran.append(job.id))
    job_id = make_job(engine, type="greet", payload={"nom": "ada"}, max_attempts=5)
    assert tick(engine, registry).dead_lettered == 1
    row = job_row(engine, job_id)
    assert ran == []
    assert (row["status"], row["attempts"]) == (S.DLQ, 1)
    assert row["last_error"].startswith("invalid payload: payload.name")


def test_the_handler_receives_the_payload_parsed_by_its_model(engine: Engine) -> None:
    registry = Registry()
    registry.job_type("greet", payload=Greeting)(lambda job, ctx: f"hi {job.payload.name}")
    job_id = make_job(engine, type="greet", payload={"name": "ada"})
    tick(engine, registry)
    assert job_row(engine, job_id)["result"] == "hi ada"


def test_the_fail_builtin_fails_its_first_attempts_then_succeeds(engine: Engine) -> None:
    job_id = make_job(engine, type="fail", payload={"times": 2, "message": "flaky"}, max_attempts=5)
    summary = tick(engine)
    assert (summary.failed, summary.succeeded, summary.dead_lettered) == (2, 1, 0)
    row = job_row(engine, job_id)
    assert (row["status"], row["attempts"], row["result"]) == (
        S.SUCCESS,
        3,
        {"succeeded_on_attempt": 3},
    )
    assert [(a["outcome"], a["error"]) for a in attempt_rows(engine, job_id)] == [
        ("error", "JobError: flaky"),
        ("error", "JobError: flaky"),
        ("success", None),
    ]


def test_a_job_failing_every_attempt_ends_in_the_dlq_after_max_attempts(engine: Engine) -> None:
    job_id = make_job(engine, type="fail", payload={}, max_attempts=3)
    summary = tick(engine)
    assert (summary.failed, summary.dead_lettered) == (2, 1)
    assert (job_row(engine, job_id)["status"], job_row(engine, job_id)["attempts"]) == (S.DLQ, 3)


def test_a_failed_job_waits_for_its_backoff_instead_of_running_again_in_the_same_tick(
    engine: Engine,
) -> None:
    job_id = make_job(engine, type="fail", payload={"times": 1}, max_attempts=5)
    summary = tick(engine, backoff=BackoffPolicy(base_seconds=60, max_seconds=3600, jitter=0))
    assert (summary.claimed, summary.failed) == (1, 1)
    assert job_row(engine, job_id)["status"] == S.FAILED


def test_a_permanent_job_error_sends_the_job_to_the_dlq_at_once(engine: Engine) -> None:
    def reject(job: Job, ctx: JobContext) -> None:
        raise PermanentJobError("mailbox does not exist")

    job_id = make_job(engine, type="reject", max_attempts=5)
    assert tick(engine, registry_with(reject=reject)).dead_lettered == 1
    row = job_row(engine, job_id)
    assert (row["status"], row["attempts"]) == (S.DLQ, 1)
    assert row["last_error"] == "PermanentJobError: mailbox does not exist"


def test_a_result_that_is_not_json_is_a_permanent_error(engine: Engine) -> None:
    job_id = make_job(engine, type="odd", max_attempts=5)
    tick(engine, registry_with(odd=lambda job, ctx: {1, 2}))
    row = job_row(engine, job_id)
    assert row["status"] == S.DLQ
    assert "not JSON" in row["last_error"]


def test_a_handler_can_extend_its_own_lease(engine: Engine) -> None:
    seen: list[datetime] = []

    def slow(job: Job, ctx: JobContext) -> None:
        ctx.extend_lease(900)
        seen.append(job_row(engine, job.id)["locked_until"])

    make_job(engine, type="slow")
    summary = tick(engine, registry_with(slow=slow), lease_seconds=30)
    assert (summary.succeeded, summary.lease_lost) == (1, 0)
    assert seen[0] > db_now(engine) + timedelta(seconds=800)


def test_a_tick_takes_only_its_queues(engine: Engine) -> None:
    mail, pdf = make_job(engine, queue="mail"), make_job(engine, queue="pdf")
    assert tick(engine, queues=["mail"]).succeeded == 1
    assert statuses(engine) == {mail: S.SUCCESS, pdf: S.SCHEDULED}
