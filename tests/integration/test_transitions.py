"""Every edge of common/states.py, walked through its named transition on every backend.

Each case puts a job in the edge's source status, runs the transition, and checks the columns
it owns. A job in any other status is refused: its row does not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection, RowMapping

from common import transitions as t
from common.db import transaction, utcnow
from common.errors import IllegalTransition, LeaseLost
from common.fingerprint import fingerprint
from common.models import jobs
from common.states import TRANSITIONS, Status, check_transition
from tests.factories import db_now, expire_lease, job_row, make_job

S = Status
Run = Callable[[Connection, int], object]
Check = Callable[[RowMapping, RowMapping, datetime], bool]


@dataclass(frozen=True)
class Case:
    name: str
    src: Status
    dst: Status
    run: Run
    sets: dict[str, Check]  # column -> check(before, after, db now)
    columns: dict[str, Any] | None = None  # the source job's columns beyond its status'


def held(conn: Connection, job_id: int) -> t.ClaimedJob:
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one()
    token, worker = row.lease_token or "none", row.locked_by or "w"
    return t.ClaimedJob(
        row.id, row.type, row.queue, row.payload, row.attempts, row.max_attempts, token, worker
    )


def locked(conn: Connection, job_id: int, *extra: Any) -> list[Any]:
    query = select(*t.REF_COLUMNS, *extra).where(jobs.c.id == job_id).with_for_update()
    return list(conn.execute(query).all())


def take(conn: Connection, job_id: int) -> object:
    # Whatever its status: the transition itself must refuse a job that is not SCHEDULED.
    candidates = locked(conn, job_id, jobs.c.payload, jobs.c.max_attempts, jobs.c.not_after)
    return t.take_leases(conn, candidates, worker_id="w-1", lease_seconds=60)


def recover(conn: Connection, job_id: int) -> object:
    now = utcnow().label("now")
    return t.recover_expired_leases(
        conn, locked(conn, job_id, jobs.c.max_attempts, jobs.c.started_at, jobs.c.not_after, now)
    )


def past_deadline(before: RowMapping, after: RowMapping, now: datetime) -> bool:
    return str(after["last_error"]).startswith(t.DEADLINE_PASSED)


def same(column: str) -> Check:
    return lambda before, after, now: after[column] == before[column]


def cleared(before: RowMapping, after: RowMapping, now: datetime) -> bool:
    return after["lease_token"] is None and after["locked_until"] is None


def finished(before: RowMapping, after: RowMapping, now: datetime) -> bool:
    return after["finished_at"] is not None and abs(after["finished_at"] - now) < timedelta(
        seconds=5
    )


def unfinished(before: RowMapping, after: RowMapping, now: datetime) -> bool:
    return after["finished_at"] is None


def due_now(before: RowMapping, after: RowMapping, now: datetime) -> bool:
    return abs(after["run_at"] - now) < timedelta(seconds=5)


EXHAUSTED = {"attempts": 5, "max_attempts": 5}
DEADLINE_GONE = {"not_after": datetime(2000, 1, 1)}
# fmt: off
CASES = [
    Case("promote", S.CREATED, S.SCHEDULED, lambda c, i: t.promote(c, locked(c, i)),
         {"run_at": same("run_at"), "attempts": same("attempts")}),
    Case("promote", S.FAILED, S.SCHEDULED, lambda c, i: t.promote(c, locked(c, i)),
         {"last_error": same("last_error"), "finished_at": unfinished}),
    Case("take_lease", S.SCHEDULED, S.RUNNING, take, {
        "attempts": lambda b, a, now: a["attempts"] == b["attempts"] + 1,
        "lease_token": lambda b, a, now: a["lease_token"] is not None,
        "locked_by": lambda b, a, now: a["locked_by"] == "w-1",
        "locked_until": lambda b, a, now: a["locked_until"] > now + timedelta(seconds=50),
        # The claim's time: a worker may start it at once, and die before saying so.
        "started_at": lambda b, a, now: abs(a["started_at"] - now) < timedelta(seconds=5),
    }),
    Case("release", S.RUNNING, S.SCHEDULED,
         lambda c, i: t.release_unstarted(c, [held(c, i)]), {
             "attempts": lambda b, a, now: a["attempts"] == b["attempts"] - 1,
             "started_at": lambda b, a, now: a["started_at"] is None,
             "lease": cleared,
         }),
    Case("succeed", S.RUNNING, S.SUCCESS,
         lambda c, i: t.succeed(c, [t.Finished(held(c, i), result={"pages": 2})]), {
             "result": lambda b, a, now: a["result"] == {"pages": 2},
             "last_error": lambda b, a, now: a["last_error"] is None,
             "finished_at": finished,
             "lease": cleared,
         }),
    Case("fail_for_retry", S.RUNNING, S.FAILED,
         lambda c, i: t.fail_for_retry(c, t.Finished(held(c, i), error="E: boom"), 30), {
             "last_error": lambda b, a, now: a["last_error"] == "E: boom",
             "run_at": lambda b, a, now: a["run_at"] > now + timedelta(seconds=25),
             "finished_at": unfinished,
             "lease": cleared,
         }),
    Case("dead_letter", S.RUNNING, S.DLQ,
         lambda c, i: t.dead_letter(c, t.Finished(held(c, i), error="E: no", permanent=True)), {
             "last_error": lambda b, a, now: a["last_error"] == "E: no",
             "error_fingerprint": lambda b, a, now: a["error_fingerprint"]
             == fingerprint("noop", "E: no"),
             "finished_at": finished,
             "lease": cleared,
         }),
    Case("recover_lease", S.RUNNING, S.SCHEDULED, recover, {
        "last_error": lambda b, a, now: a["last_error"] == t.LEASE_EXPIRED,
        "run_at": due_now,
        "attempts": same("attempts"),
        "lease": cleared,
    }),
    Case("recover_lease", S.RUNNING, S.SCHEDULED, recover, {  # claimed, never started
        "attempts": lambda b, a, now: a["attempts"] == b["attempts"] - 1,
        "last_error": same("last_error"),
        "lease": cleared,
    }, columns={"started_at": None}),
    Case("recover_lease", S.RUNNING, S.DLQ, recover, {
        "last_error": lambda b, a, now: a["last_error"] == t.LEASE_EXPIRED,
        "error_fingerprint": lambda b, a, now: a["error_fingerprint"]
        == fingerprint("noop", t.LEASE_EXPIRED),
        "finished_at": finished,
        "lease": cleared,
    }, columns=EXHAUSTED),
    Case("operator_retry", S.FAILED, S.SCHEDULED, lambda c, i: t.operator_retry(c, locked(c, i)),
         {"run_at": due_now, "max_attempts": same("max_attempts")}),
    Case("operator_retry", S.DLQ, S.SCHEDULED, lambda c, i: t.operator_retry(c, locked(c, i)), {
        "run_at": due_now,
        "error_fingerprint": lambda b, a, now: a["error_fingerprint"] is None,
        "finished_at": unfinished,
        "max_attempts": lambda b, a, now: a["max_attempts"] == b["attempts"] + 1,
    }, columns={**EXHAUSTED, "error_fingerprint": "f" * 16}),
    *(
        Case("operator_cancel", src, S.CANCELLED,
             lambda c, i: t.operator_cancel(c, locked(c, i)), {"finished_at": finished})
        for src in (S.CREATED, S.SCHEDULED, S.FAILED, S.DLQ)
    ),
    *(
        Case("expire_past_deadline", src, S.CANCELLED,
             lambda c, i: t.expire_past_deadline(c, locked(c, i)),
             {"finished_at": finished, "last_error": past_deadline}, columns=DEADLINE_GONE)
        for src in (S.CREATED, S.SCHEDULED, S.FAILED)
    ),
    Case("cancel_past_deadline", S.RUNNING, S.CANCELLED,
         lambda c, i: t.cancel_past_deadline(c, t.Finished(held(c, i), error="E: late")), {
             "last_error": lambda b, a, now: "E: late" in a["last_error"]
             and past_deadline(b, a, now),
             "finished_at": finished,
             "lease": cleared,
         }, columns=DEADLINE_GONE),
    Case("recover_lease", S.RUNNING, S.CANCELLED, recover, {
        "last_error": past_deadline,
        "finished_at": finished,
        "lease": cleared,
    }, columns=DEADLINE_GONE),
]
# fmt: on


def case_id(case: Case) -> str:
    return f"{case.name}:{case.src}->{case.dst}"


def make_source(engine: Engine, case: Case) -> int:
    job_id = make_job(engine, case.src, **(case.columns or {}))
    if case.name == "recover_lease":
        expire_lease(engine, job_id)
    return job_id


def test_the_cases_walk_every_edge_of_the_table() -> None:
    assert {(case.src, case.dst) for case in CASES} == set(TRANSITIONS)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_each_named_transition_moves_its_edge_and_sets_its_columns(
    engine: Engine, case: Case
) -> None:
    job_id = make_source(engine, case)
    before = job_row(engine, job_id)

    with transaction(engine) as conn:
        case.run(conn, job_id)

    after, now = job_row(engine, job_id), db_now(engine)
    assert after["status"] == case.dst
    assert after["updated_at"] >= before["updated_at"]
    wrong = [column for column, check in case.sets.items() if not check(before, after, now)]
    assert wrong == [], {column: (before.get(column), after.get(column)) for column in wrong}


def _other_statuses(case: Case) -> list[Status]:
    sources = {c.src for c in CASES if c.name == case.name}
    return [status for status in Status if status not in sources]


REFUSALS = [
    (case, status)
    for case in {c.name: c for c in CASES}.values()
    for status in _other_statuses(case)
]


@pytest.mark.parametrize(("case", "status"), REFUSALS, ids=[f"{c.name}:{s}" for c, s in REFUSALS])
def test_each_named_transition_refuses_a_job_in_any_other_status(
    engine: Engine, case: Case, status: Status
) -> None:
    job_id = make_job(engine, status)
    before = job_row(engine, job_id)

    try:
        with transaction(engine) as conn:
            case.run(conn, job_id)
    except (LeaseLost, RuntimeError):
        pass  # refused outright; either way, nothing may have changed

    assert job_row(engine, job_id) == before


def test_a_fenced_transition_refuses_a_worker_whose_lease_was_taken_over(engine: Engine) -> None:
    job_id = make_job(engine, S.RUNNING)
    with transaction(engine) as conn:
        stale = held(conn, job_id)
    with transaction(engine) as conn:
        t.extend_leases(conn, [stale], 60)  # still ours: kept
    other = replace(stale, lease_token="someone-else")

    with pytest.raises(LeaseLost), transaction(engine) as conn:
        t.succeed(conn, [t.Finished(other, result="late")])
    with transaction(engine) as conn:
        assert t.release_unstarted(conn, [other]) == 0
        assert t.extend_leases(conn, [other], 60) == 0

    assert job_row(engine, job_id)["status"] == S.RUNNING


@pytest.mark.parametrize(
    "pair", [(a, b) for a in Status for b in Status if (a, b) not in TRANSITIONS]
)
def test_no_update_can_be_built_for_a_pair_that_is_not_an_edge(pair: tuple[Status, Status]) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(pair[0], pair[1])


def test_mark_started_notes_the_start_of_attempts_still_held(engine: Engine) -> None:
    job_id = make_job(engine, S.RUNNING, started_at=None)
    with transaction(engine) as conn:
        job = held(conn, job_id)
        stale = replace(job, lease_token="someone-else")
        assert t.mark_started(conn, [stale]) == 0
        assert t.mark_started(conn, [job]) == 1
    row = job_row(engine, job_id)
    assert row["status"] == S.RUNNING and row["started_at"] is not None
