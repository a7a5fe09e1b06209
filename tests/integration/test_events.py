"""The transition event stream: one event per committed status change, in commit order, and
nothing a listener does can change or hold up the engine."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from common import transitions as t
from common.claim import claim
from common.db import transaction
from common.enqueue import NewJob, enqueue
from common.events import EventStream, TransitionEvent, stream
from common.finish import finish
from common.handlers.builtin import register_builtins
from common.handlers.registry import Registry
from common.maintenance import JobFilter, cancel_jobs
from common.models import jobs
from common.retry import BackoffPolicy
from common.schedule import promote_due, recover_expired
from common.states import Outcome, Status
from common.worker import TickOptions, work_tick
from tests.factories import expire_lease, make_due, make_job, make_jobs, status_of

S = Status
BACKOFF = BackoffPolicy(base_seconds=10, max_seconds=3600, jitter=0)


@pytest.fixture
def heard() -> Iterator[list[TransitionEvent]]:
    """Every event published while the test runs."""
    events: list[TransitionEvent] = []
    unsubscribe = stream.subscribe(events.append)
    yield events
    unsubscribe()


def builtin_types() -> Registry:
    registry = Registry()
    register_builtins(registry)
    return registry


def settle() -> None:
    assert stream.drain(timeout_seconds=10), "the listeners did not catch up"


def edges(events: list[TransitionEvent]) -> list[tuple[str, Status, Status, int]]:
    return [(e.transition, e.from_status, e.to_status, e.attempt) for e in events]


def test_a_listener_hears_each_transition_of_a_job_once_in_commit_order(
    engine: Engine, heard: list[TransitionEvent]
) -> None:
    with engine.begin() as conn:
        job_id = enqueue(conn, NewJob(type="noop")).id
    promote_due(engine)
    [first] = claim(engine, worker_id="w", limit=1, lease_seconds=60)
    finish(engine, [t.Finished(first, error="JobError: flaky")], BACKOFF)
    make_due(engine, job_id)
    promote_due(engine)
    [second] = claim(engine, worker_id="w", limit=1, lease_seconds=60)
    finish(engine, [t.Finished(second, result={"ok": True})], BACKOFF)
    settle()

    assert edges(heard) == [
        ("promote", S.CREATED, S.SCHEDULED, 0),
        ("take_lease", S.SCHEDULED, S.RUNNING, 1),
        ("fail_for_retry", S.RUNNING, S.FAILED, 1),
        ("promote", S.FAILED, S.SCHEDULED, 1),
        ("take_lease", S.SCHEDULED, S.RUNNING, 2),
        ("succeed", S.RUNNING, S.SUCCESS, 2),
    ]
    assert {e.job_id for e in heard} == {job_id}
    assert heard[2].outcome == Outcome.ERROR and heard[2].error == "JobError: flaky"


def test_what_a_tick_did_reaches_the_listener_with_its_worker_outcome_and_duration(
    engine: Engine, heard: list[TransitionEvent]
) -> None:
    with engine.begin() as conn:
        ok = enqueue(conn, NewJob(type="sleep", payload={"seconds": 0.05})).id
        dead = enqueue(conn, NewJob(type="fail", max_attempts=1)).id
    options = TickOptions(worker_id="tick-7", budget_seconds=40, stop_when_idle=True)
    work_tick(engine, builtin_types(), options)
    settle()

    ends = {e.job_id: e for e in heard if e.from_status == S.RUNNING}
    assert (ends[ok].to_status, ends[ok].outcome) == (S.SUCCESS, Outcome.SUCCESS)
    assert (ends[dead].to_status, ends[dead].outcome) == (S.DLQ, Outcome.ERROR)
    assert ends[dead].error == "JobError: failed on purpose"
    assert ends[ok].duration_seconds is not None and ends[ok].duration_seconds >= 0.05
    assert {(e.worker_id, e.queue) for e in ends.values()} == {("tick-7", "default")}
    assert (ends[ok].type, ends[dead].type) == ("sleep", "fail")


def test_recovery_and_operator_actions_are_heard_too(
    engine: Engine, heard: list[TransitionEvent]
) -> None:
    running = make_job(engine, S.RUNNING)
    expire_lease(engine, running)
    waiting = make_jobs(engine, 3, S.SCHEDULED, queue="mail")
    recover_expired(engine)
    cancel_jobs(engine, where=JobFilter(queue="mail"))
    settle()

    assert edges(heard) == [
        ("recover_lease", S.RUNNING, S.SCHEDULED, 1),
        *[("operator_cancel", S.SCHEDULED, S.CANCELLED, 0)] * 3,
    ]
    assert heard[0].outcome == Outcome.LEASE_EXPIRED
    assert [e.job_id for e in heard[1:]] == waiting


def test_a_rolled_back_transition_is_never_heard(
    engine: Engine, heard: list[TransitionEvent]
) -> None:
    job_id = make_job(engine, S.CREATED)

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), transaction(engine) as conn:
        due = conn.execute(select(*t.REF_COLUMNS).where(jobs.c.id == job_id)).all()
        t.promote(conn, due)
        raise Abandoned
    settle()

    assert heard == []
    assert status_of(engine, job_id) == S.CREATED


def test_a_failing_listener_changes_nothing(engine: Engine, heard: list[TransitionEvent]) -> None:
    def broken(event: TransitionEvent) -> None:
        raise RuntimeError("listener bug")

    unsubscribe = stream.subscribe(broken)
    try:
        ids = make_jobs(engine, 5, S.SCHEDULED)
        options = TickOptions(worker_id="w", budget_seconds=20, stop_when_idle=True)
        summary = work_tick(engine, builtin_types(), options)
        settle()
    finally:
        unsubscribe()

    assert summary.succeeded == 5
    assert [status_of(engine, job_id) for job_id in ids] == [S.SUCCESS] * 5
    assert len(heard) == 10  # the other listener heard every claim and every success


def test_a_listener_that_blocks_holds_up_no_transaction(
    engine: Engine, heard: list[TransitionEvent]
) -> None:
    gate = threading.Event()
    unsubscribe = stream.subscribe(lambda event: gate.wait(timeout=30))
    try:
        make_jobs(engine, 5, S.SCHEDULED)
        claimed = claim(engine, worker_id="w", limit=5, lease_seconds=60)
        finish(engine, [t.Finished(job) for job in claimed], BACKOFF)
        # Both transactions committed while the listener was still stuck on the first event.
        assert not gate.is_set() and len(heard) < 10
    finally:
        gate.set()
        unsubscribe()
    settle()
    assert len(heard) == 10


def test_a_stream_whose_listeners_fall_too_far_behind_drops_and_counts_new_events() -> None:
    events = EventStream(max_pending=2)
    gate, seen = threading.Event(), []
    events.subscribe(lambda event: (gate.wait(timeout=30), seen.append(event.job_id)))
    one = TransitionEvent("promote", 1, "q", "noop", 0, S.CREATED, S.SCHEDULED)
    events.publish([one])
    assert not events.drain(timeout_seconds=0.2)  # event 1 is being handed out, and stuck
    events.publish([one.__class__(**{**one.__dict__, "job_id": n}) for n in (2, 3, 4)])
    gate.set()

    assert events.drain(timeout_seconds=10)
    assert seen == [1, 2, 3] and events.dropped == 1


def test_nobody_listening_means_no_events_are_built(engine: Engine) -> None:
    assert not stream.active
    make_jobs(engine, 3, S.SCHEDULED)
    assert len(claim(engine, worker_id="w", limit=3, lease_seconds=60)) == 3
    assert stream.drain(timeout_seconds=0)
