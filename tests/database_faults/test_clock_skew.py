"""The functions' clock ten minutes off the database's, either way, breaks neither run_at, nor
leases, nor backoff, nor deadlines: every such time comes from the database's clock.

The skew is put on the database's side: the tests' own mariadbd runs under libfaketime with
its wall clock moved ten minutes ahead, then ten minutes back, while the local stack keeps the
machine's (libfaketime 0.9.10 on the Python processes themselves breaks CPython's sleeps and
condition waits: EINVAL from clock_nanosleep, or waits that never end). What differs is the
same: the two clocks are ten minutes apart. The stack stays up across both restarts of the
server, so its processes also show they reconnect by themselves.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from common.db import utcnow
from common.models import jobs
from tests.database_faults.conftest import stack_env
from tests.database_faults.own_mariadb import OwnMariaDB, faketime_library
from tests.database_faults.traffic import Ticking, call, running
from tests.e2e.stack import LocalStack, start_stack

LEASE_SECONDS = 2.0
BACKOFF_BASE_SECONDS = 1.0  # the first retry waits base * 2 = 2 s
DELAY_SECONDS = 3.0
LATE_SECONDS = 3.0  # a due job starts within this (ticks loop every few hundred ms)
FAIL_ONCE = {"type": "fail", "payload": {"times": 1}, "max_attempts": 3}
TICK_SECONDS = 8.0  # room for the held job, 2 leases long, to start and end in one tick
REPORT = Path(__file__).resolve().parents[2] / ".local-stack" / "clock-skew.json"
FIGURES: dict[str, Any] = {}
FINAL = {"SUCCESS", "DLQ", "CANCELLED"}


@pytest.fixture(scope="module")
def stack(
    own_mariadb: OwnMariaDB, own_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    if faketime_library() is None:
        message = "libfaketime is needed for the clock skew test (apt-get install libfaketime)"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run it)")
        pytest.skip(message)
    url = own_mariadb.url(own_database)
    env = stack_env(
        url,
        url,
        LEASE_SECONDS=str(LEASE_SECONDS),
        BACKOFF_BASE_SECONDS=str(BACKOFF_BASE_SECONDS),
        BACKOFF_MAX_SECONDS="10",
    )
    log = tmp_path_factory.mktemp("clock-skew") / "stack.log"
    with running(start_stack(env, args=("--no-cron",)), log) as stack:
        yield stack
    own_mariadb.stop()  # back to the machine's clock for whatever runs next
    own_mariadb.start()


@pytest.mark.parametrize("minutes", [10, -10], ids=["database 10 min ahead", "10 min behind"])
def test_due_times_leases_backoff_and_deadlines_follow_the_database_clock(
    stack: LocalStack, own_mariadb: OwnMariaDB, direct: Engine, minutes: int
) -> None:
    own_mariadb.stop()
    own_mariadb.start(clock_offset_minutes=minutes)
    ticking = Ticking(stack, workers=2, budget_seconds=TICK_SECONDS).start()
    try:
        skew = database_now(direct).timestamp() - time.time()
        seen = submit(stack, {"type": "clock"})
        delayed = submit(stack, {"type": "count", "delay_seconds": DELAY_SECONDS})
        held = submit(stack, {"type": "hold", "payload": {"seconds": 2 * LEASE_SECONDS}})
        retried = submit(stack, FAIL_ONCE)
        expiring = submit(stack, {"type": "count", "expires_in_seconds": 60})
        expired = submit(stack, {**FAIL_ONCE, "expires_in_seconds": 1.5})
        leases = lease_lengths(direct, held["id"])
        done = {job["id"]: wait_final(stack, job["id"]) for job in (delayed, held, retried)}
        done |= {job["id"]: wait_final(stack, job["id"]) for job in (seen, expiring, expired)}
    finally:
        ticking.stop()

    assert abs(skew - 60 * minutes) < 5, skew
    process_clock = done[seen["id"]]["result"]["time"]
    assert abs(process_clock - time.time()) < 60  # the stack's clock is the machine's
    assert [a for a in ticking.answers if a.status != 200] == []

    ran = done[delayed["id"]]["attempt_history"][0]
    waited = (at(ran["started_at"]) - at(done[delayed["id"]]["created_at"])).total_seconds()
    assert DELAY_SECONDS <= waited < DELAY_SECONDS + LATE_SECONDS, waited

    assert leases and all(0 < left <= LEASE_SECONDS + 0.01 for left in leases), leases
    assert outcomes(done[held["id"]]) == ["success"]  # the keeper kept its lease: no takeover

    first, second = done[retried["id"]]["attempt_history"]
    backoff = (at(second["started_at"]) - at(first["ended_at"])).total_seconds()
    assert (first["outcome"], second["outcome"]) == ("error", "success")
    assert 2 * BACKOFF_BASE_SECONDS <= backoff < 2 * BACKOFF_BASE_SECONDS + LATE_SECONDS, backoff

    FIGURES[f"{minutes:+d} min"] = {
        "measured_skew_seconds": round(skew, 1),
        "delay_3s_started_after_seconds": round(waited, 3),
        "lease_left_seconds_min_max": [round(min(leases), 3), round(max(leases), 3)],
        "backoff_2s_measured_seconds": round(backoff, 3),
        "tick_answers": len(ticking.answers),
    }
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(FIGURES, indent=2) + "\n")
    assert done[expiring["id"]]["status"] == "SUCCESS"
    assert done[expired["id"]]["status"] == "CANCELLED"  # its retry would start past its deadline


def submit(stack: LocalStack, body: dict[str, Any]) -> dict[str, Any]:
    answer = call(stack, "POST", "/jobs", body)
    assert answer.status == 201, answer
    return dict(answer.body)


def wait_final(stack: LocalStack, job_id: int, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        answer = call(stack, "GET", f"/jobs/{job_id}")
        if answer.status == 200 and answer.body["status"] in FINAL:
            return dict(answer.body)
        assert time.monotonic() < deadline, answer
        time.sleep(0.2)


def lease_lengths(direct: Engine, job_id: int) -> list[float]:
    """What is left of the job's lease by the database's clock, sampled while it runs."""
    left = []
    deadline = time.monotonic() + 3 * LEASE_SECONDS
    while time.monotonic() < deadline:
        with direct.connect() as conn:
            row = conn.execute(
                select(jobs.c.status, jobs.c.locked_until, utcnow()).where(jobs.c.id == job_id)
            ).one()
        if row.status == "RUNNING" and row.locked_until is not None:
            left.append((row.locked_until - row[2]).total_seconds())
        elif left:
            break
        time.sleep(0.2)
    return left


def database_now(direct: Engine) -> datetime:
    with direct.connect() as conn:
        now: datetime = conn.execute(select(func.utc_timestamp())).scalar_one()
    return now.replace(tzinfo=at("2000-01-01T00:00:00Z").tzinfo)


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def outcomes(job: dict[str, Any]) -> list[str]:
    return [attempt["outcome"] for attempt in job["attempt_history"]]
