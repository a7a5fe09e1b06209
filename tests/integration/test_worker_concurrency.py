"""The worker tick runs jobs side by side, gives up on those past their deadline, keeps its
budget whatever the handlers do, and records each attempt's own start and end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from common.handlers.builtin import register_builtins
from common.handlers.registry import Job, JobContext, Registry
from common.retry import BackoffPolicy
from common.states import Status
from common.worker import TickOptions, TickSummary, work_tick
from tests.factories import attempt_rows, job_row, make_job, make_jobs, status_of

S = Status
NO_WAIT = BackoffPolicy(base_seconds=0, max_seconds=0, jitter=0)


class Gauge:
    """How many handlers run at once, and the most that ever did."""

    def __init__(self) -> None:
        self.now, self.peak, self.lock = 0, 0, threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


@pytest.fixture
def release_hung() -> Iterator[threading.Event]:
    """Set at the end of the test, so that hung handlers' threads do end."""
    gate = threading.Event()
    yield gate
    gate.set()


def tick(engine: Engine, registry: Registry, **options: Any) -> TickSummary:
    settings: dict[str, Any] = {
        "worker_id": "tick-1",
        "budget_seconds": 20,
        "backoff": NO_WAIT,
        "stop_when_idle": True,
        **options,
    }
    return work_tick(engine, registry, TickOptions(**settings))


def test_jobs_that_wait_overlap_their_waits_up_to_the_concurrency(engine: Engine) -> None:
    gauge, registry = Gauge(), Registry()

    @registry.job_type("wait", timeout_seconds=5, expected_seconds=0.2)
    def wait(job: Job, ctx: JobContext) -> None:
        with gauge:
            time.sleep(0.2)

    ids = make_jobs(engine, 30, type="wait")
    summary = tick(engine, registry, concurrency=10, batch_size=10)

    assert (summary.succeeded, summary.released) == (30, 0)
    assert gauge.peak == 10
    attempts = [attempt_rows(engine, job_id)[0] for job_id in ids]
    first = min(a["started_at"] for a in attempts)
    last = max(a["ended_at"] for a in attempts)
    # 30 waits of 0.2 s, 10 at a time: 0.6 s of the tick's time (3 rounds), not 6 s in a row.
    assert timedelta(seconds=0.6) <= last - first < timedelta(seconds=1.5)
    assert all(a["ended_at"] - a["started_at"] >= timedelta(seconds=0.2) for a in attempts)


def test_a_job_type_may_run_fewer_of_its_jobs_at_once_than_the_tick(engine: Engine) -> None:
    heavy, light, registry = Gauge(), Gauge(), Registry()

    @registry.job_type("render", timeout_seconds=5, expected_seconds=0.1, concurrency=2)
    def render(job: Job, ctx: JobContext) -> None:
        with heavy:
            time.sleep(0.1)

    @registry.job_type("ping", timeout_seconds=5, expected_seconds=0.1)
    def ping(job: Job, ctx: JobContext) -> None:
        with light:
            time.sleep(0.1)

    make_jobs(engine, 10, type="render", priority=1)
    make_jobs(engine, 10, type="ping")
    summary = tick(engine, registry, concurrency=8, batch_size=20)

    assert summary.succeeded == 20
    assert heavy.peak == 2
    assert light.peak >= 4  # the ping jobs took the slots render left


def test_a_handler_that_ignores_its_timeout_ends_the_attempt_as_timeout(
    engine: Engine, release_hung: threading.Event
) -> None:
    told = threading.Event()
    registry = Registry()

    @registry.job_type("stuck", timeout_seconds=0.3)
    def stuck(job: Job, ctx: JobContext) -> None:
        if ctx.cancelled.wait(10):
            told.set()
        release_hung.wait(30)  # and then it goes on ignoring it

    job_id = make_job(engine, type="stuck", max_attempts=1)
    started = time.monotonic()
    summary = tick(engine, registry, budget_seconds=3)

    assert time.monotonic() - started < 3 + 1
    assert (summary.dead_lettered, summary.timed_out) == (1, 1)
    assert told.wait(1), "the handler was not told it had been given up on"
    row = job_row(engine, job_id)
    assert row["status"] == S.DLQ and "0.3 s timeout" in row["last_error"]
    [attempt] = attempt_rows(engine, job_id)
    assert attempt["outcome"] == "timeout" and attempt["error"] == row["last_error"]
    assert timedelta(seconds=0.3) <= attempt["ended_at"] - attempt["started_at"] < timedelta(1)


def test_a_timed_out_attempt_is_retried_with_backoff_like_any_failure(
    engine: Engine, release_hung: threading.Event
) -> None:
    registry = Registry()
    registry.job_type("stuck", timeout_seconds=0.2)(lambda job, ctx: release_hung.wait(30))
    job_id = make_job(engine, type="stuck", max_attempts=3)

    summary = tick(engine, registry, backoff=BackoffPolicy(60, 3600, 0))

    assert (summary.failed, summary.timed_out) == (1, 1)
    row = job_row(engine, job_id)
    assert (row["status"], row["attempts"], row["lease_token"]) == (S.FAILED, 1, None)


def test_a_result_returned_after_the_timeout_is_discarded(engine: Engine) -> None:
    returned = threading.Event()
    registry = Registry()

    @registry.job_type("late", timeout_seconds=0.2)
    def late(job: Job, ctx: JobContext) -> dict[str, str]:
        time.sleep(0.6)  # ignores both its deadline and the cancellation
        returned.set()
        return {"too": "late"}

    job_id = make_job(engine, type="late", max_attempts=1)
    tick(engine, registry, budget_seconds=5)
    recorded = job_row(engine, job_id)
    assert returned.wait(5)
    time.sleep(0.1)  # whatever the late return would have written, it would be there now

    assert job_row(engine, job_id) == recorded
    assert (recorded["status"], recorded["result"]) == (S.DLQ, None)
    assert [a["outcome"] for a in attempt_rows(engine, job_id)] == ["timeout"]


def test_a_tick_answers_within_its_budget_whatever_its_handlers_do(
    engine: Engine, release_hung: threading.Event
) -> None:
    registry = Registry()
    register_builtins(registry)
    registry.job_type("hang", timeout_seconds=60, expected_seconds=0.1)(
        lambda job, ctx: release_hung.wait(60)
    )
    hung = make_jobs(engine, 3, type="hang", max_attempts=2)
    quick = make_jobs(engine, 20, type="noop")

    started = time.monotonic()
    summary = tick(engine, registry, budget_seconds=1.5, stop_when_idle=False)
    took = time.monotonic() - started

    assert took < 1.5 + 1
    assert (summary.succeeded, summary.timed_out, summary.failed) == (20, 3, 3)
    assert {status_of(engine, job_id) for job_id in quick} == {S.SUCCESS}
    for job_id in hung:
        row = job_row(engine, job_id)
        assert (row["status"], row["locked_until"]) == (S.FAILED, None)  # no lease kept alive
        assert "budget ran out" in row["last_error"]


def test_each_attempt_records_its_own_start_and_end_and_is_written_while_others_run(
    engine: Engine,
) -> None:
    registry = Registry()
    register_builtins(registry)
    slow = make_job(engine, type="sleep", payload={"seconds": 1}, priority=1)
    failing = make_job(engine, type="fail", max_attempts=1)
    seen_while_slow_ran: list[Status] = []

    def watch() -> None:
        time.sleep(0.5)  # the sleep job is halfway
        seen_while_slow_ran.extend([status_of(engine, slow), status_of(engine, failing)])

    watcher = threading.Thread(target=watch)
    watcher.start()
    tick(engine, registry, batch_size=2)
    watcher.join()

    assert seen_while_slow_ran == [S.RUNNING, S.DLQ]
    [long] = attempt_rows(engine, slow)
    [short] = attempt_rows(engine, failing)
    assert timedelta(seconds=1) <= long["ended_at"] - long["started_at"] < timedelta(seconds=1.5)
    assert short["ended_at"] - short["started_at"] < timedelta(seconds=0.1)
    assert short["ended_at"] < long["started_at"] + timedelta(seconds=0.2)
    for job_id, attempt in ((slow, long), (failing, short)):
        row = job_row(engine, job_id)
        assert (row["started_at"], row["finished_at"]) == (
            attempt["started_at"],
            attempt["ended_at"],
        )


def test_a_long_attempt_notes_its_start_in_the_job_row_while_it_runs(engine: Engine) -> None:
    registry = Registry()
    register_builtins(registry)
    job_id = make_job(engine, type="sleep", payload={"seconds": 0.6})
    seen: list[Any] = []
    watcher = threading.Timer(0.3, lambda: seen.append(job_row(engine, job_id)))
    watcher.start()
    tick(engine, registry)
    watcher.join()

    [while_running] = seen
    assert while_running["status"] == S.RUNNING
    assert while_running["started_at"] is not None  # recovery can tell it was started


def test_a_drain_of_jobs_that_all_fit_releases_none(engine: Engine) -> None:
    registry = Registry()
    register_builtins(registry)
    make_jobs(engine, 100, type="sleep", payload={"seconds": 0.01})

    summary = tick(engine, registry, budget_seconds=5, batch_size=10)

    assert (summary.claimed, summary.succeeded, summary.released) == (100, 100, 0)


def test_a_late_return_of_a_given_up_attempt_leaves_the_jobs_next_attempt_alone(
    engine: Engine,
) -> None:
    registry = Registry()

    @registry.job_type("slow_then_slower", timeout_seconds=1, expected_seconds=0.1)
    def handler(job: Job, ctx: JobContext) -> dict[str, int]:
        # Attempt 1 hangs past its timeout and returns while attempt 2 (claimed by the same
        # tick right after) is still running.
        time.sleep(1.5 if job.attempt == 1 else 0.8)  # given up at 1 s; the next from ~1 s
        return {"attempt": job.attempt}

    job_id = make_job(engine, type="slow_then_slower", max_attempts=3)
    summary = tick(engine, registry, budget_seconds=5)

    assert (summary.timed_out, summary.succeeded) == (1, 1)
    row = job_row(engine, job_id)
    assert (row["status"], row["attempts"], row["result"]) == (S.SUCCESS, 2, {"attempt": 2})
    assert [a["outcome"] for a in attempt_rows(engine, job_id)] == ["timeout", "success"]


def _statuses_seen_by_the_first_job(engine: Engine, expected_seconds: float) -> list[Status]:
    """Two slots, both busy past 0.3 s, two jobs behind them: what those two were at 0.3 s."""
    registry, seen = Registry(), []

    @registry.job_type("wait", timeout_seconds=10, expected_seconds=expected_seconds)
    def wait(job: Job, ctx: JobContext) -> None:
        if job.id == first[0]:
            time.sleep(0.3)
            seen.extend(status_of(engine, job_id) for job_id in behind)
        else:
            time.sleep(0.6 if job.id == first[1] else 0.1)  # first[1] holds its slot past 0.3 s

    first = make_jobs(engine, 2, type="wait", priority=1)
    behind = make_jobs(engine, 2, type="wait")
    summary = tick(engine, registry, concurrency=2, batch_size=2)
    assert summary.succeeded == 4
    return seen


def test_with_every_slot_busy_the_next_batch_is_claimed_just_before_a_slot_frees(
    engine: Engine,
) -> None:
    # expected to end at 0.2 s: by 0.3 s the next two are claimed, waiting for a free thread
    assert _statuses_seen_by_the_first_job(engine, expected_seconds=0.2) == [S.RUNNING] * 2


def test_a_tick_busy_with_long_jobs_leaves_the_jobs_behind_them_to_other_ticks(
    engine: Engine,
) -> None:
    assert _statuses_seen_by_the_first_job(engine, expected_seconds=5) == [S.SCHEDULED] * 2
