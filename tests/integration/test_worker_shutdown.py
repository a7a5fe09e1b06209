"""A worker tick told that its process is shutting down (common/shutdown.py) claims nothing
more, hands back at once the jobs it has not started, lets the running ones end within
STOP_GRACE_SECONDS (then gives up on them, as timeouts), records them all and returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from common import shutdown
from common.handlers.registry import Job, JobContext, Registry
from common.retry import BackoffPolicy
from common.states import Status
from common.worker import STOP_GRACE_SECONDS, TickOptions, work_tick
from tests.factories import make_jobs, statuses

S = Status
NO_WAIT = BackoffPolicy(base_seconds=0, max_seconds=0, jitter=0)


def sleeping(seconds: float) -> Registry:
    registry = Registry()

    @registry.job_type("nap", timeout_seconds=30, expected_seconds=0.1)
    def nap(job: Job, ctx: JobContext) -> None:
        ctx.cancelled.wait(seconds)

    return registry


@pytest.fixture
def stop_soon() -> Iterator[threading.Timer]:
    """Sets shutdown.stopping half a second after it is started; cleared at the end."""
    timer = threading.Timer(0.5, shutdown.stopping.set)
    yield timer
    timer.cancel()
    shutdown.stopping.clear()


@pytest.mark.parametrize(
    ("job_seconds", "ended"),
    [(1.0, S.SUCCESS), (10.0, S.FAILED)],
    ids=["running-jobs-finish", "running-jobs-given-up"],
)
def test_a_tick_told_to_stop_hands_back_what_it_has_not_started(
    engine: Engine, stop_soon: threading.Timer, job_seconds: float, ended: Status
) -> None:
    make_jobs(engine, 10, type="nap", payload={})
    options = TickOptions(
        worker_id="stopping", budget_seconds=60, batch_size=10, concurrency=2, backoff=NO_WAIT
    )
    stop_soon.start()
    started = time.monotonic()
    summary = work_tick(engine, sleeping(job_seconds), options)
    took = time.monotonic() - started

    assert took < 0.5 + STOP_GRACE_SECONDS + 1.0
    assert (summary.claimed, summary.released) == (10, 8)
    if ended == S.SUCCESS:
        assert summary.succeeded == 2
    else:
        assert (summary.failed, summary.timed_out) == (2, 2)
    assert sorted(statuses(engine).values()) == sorted([ended] * 2 + [S.SCHEDULED] * 8)
