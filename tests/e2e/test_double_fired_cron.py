"""Ticks fired twice, or many at once, do what one would: two schedule ticks and eight worker
ticks are fired at the same instant at the local stack, round after round, while jobs become
due, fail, are retried and recur. Nothing is promoted, enqueued or executed twice, and the
ticks' counts add up to what the jobs needed."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from common.db import make_engine
from common.models import job_attempts, jobs, recurring_slots
from tests.e2e.counting_jobs import EXECUTIONS
from tests.e2e.stack import LocalStack, stack_on_empty_mariadb

SCHEDULE_TICKS, WORK_TICKS = 2, 8
ROUNDS = 8
PLAIN, FAILING_ONCE = 100, 50
RECURRING = """[[recurring]]
name = "every-minute"
cron = "* * * * *"
type = "counted"
payload = { tag = "recurring" }
catch_up = "all"
"""


@pytest.fixture
def database(database_urls: dict[str, str]) -> Iterator[Engine]:
    engine = make_engine(database_urls["mariadb"])
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS executions"))
        conn.execute(text(EXECUTIONS))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE executions"))
    engine.dispose()


def fire_at_once(stack: LocalStack) -> list[tuple[str, int, Any]]:
    """Every tick of a round, released by one barrier; their answers."""
    ticks = ["/ticks/schedule"] * SCHEDULE_TICKS + ["/ticks/work"] * WORK_TICKS
    barrier = threading.Barrier(len(ticks))
    answers: list[tuple[str, int, Any]] = []

    def fire(path: str) -> None:
        barrier.wait()
        status, body = stack.call("POST", path, {"budget_seconds": 2})
        answers.append((path, status, body))

    threads = [threading.Thread(target=fire, args=(path,)) for path in ticks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def unfinished(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).where(jobs.c.status != "SUCCESS")).scalar_one()
        )


@pytest.mark.slow
def test_ticks_fired_at_the_same_instant_do_what_one_would(
    database: Engine, database_urls: dict[str, str], tmp_path: Path
) -> None:
    recurring_file = tmp_path / "recurring.toml"
    recurring_file.write_text(RECURRING)
    env = {
        "JOB_MODULES": "tests.e2e.counting_jobs",
        "RECURRING_FILE": str(recurring_file),
        "BACKOFF_BASE_SECONDS": "0.2",
        "BACKOFF_JITTER": "0",
        "LOG_LEVEL": "WARNING",  # the stack's output waits in a pipe until the end
    }
    url = database_urls["mariadb"]
    answers: list[tuple[str, int, Any]] = []
    with stack_on_empty_mariadb(url, env=env, args=("--no-cron",)) as stack:
        began = time.time()
        for n in range(PLAIN + FAILING_ONCE):
            payload = {"fail_times": 1 if n >= PLAIN else 0}
            body = {"type": "counted", "payload": payload, "delay_seconds": (n % 4) * 0.5}
            status, job = stack.call("POST", "/jobs", body)
            assert status == 201, job
        for _ in range(ROUNDS):
            answers += fire_at_once(stack)
        for _ in range(10):
            if not unfinished(database):
                break
            answers += fire_at_once(stack)
        minutes_spanned = int(time.time() // 60 - began // 60) + 1

    assert [a for a in answers if a[1] != 200] == [], "every tick answers 200"
    with database.connect() as conn:
        by_status = select(jobs.c.status, func.count()).group_by(jobs.c.status)
        statuses = {status: n for status, n in conn.execute(by_status)}
        executions = Counter(
            (row.job_id, row.attempt)
            for row in conn.execute(text("SELECT job_id, attempt FROM executions"))
        )
        attempts = Counter(
            (row.job_id, row.attempt, row.outcome)
            for row in conn.execute(
                select(job_attempts.c.job_id, job_attempts.c.attempt, job_attempts.c.outcome)
            )
        )
        slots = conn.execute(select(func.count()).select_from(recurring_slots)).scalar_one()
    recurring = sum(statuses.values()) - PLAIN - FAILING_ONCE
    total = PLAIN + FAILING_ONCE + recurring
    assert statuses == {"SUCCESS": total}
    assert 1 <= recurring == slots <= minutes_spanned, "one job per recurring slot"
    assert set(executions.values()) == {1}, "an attempt executed twice"
    assert set(attempts.values()) == {1}, "an attempt recorded twice"
    assert {(job, attempt) for job, attempt, _ in attempts} == set(executions)
    outcomes = Counter(outcome for _, _, outcome in attempts)
    # A tick whose budget ran out mid-attempt records it as timeout: retried, as it should be.
    assert outcomes.keys() <= {"success", "error", "timeout"}
    assert (outcomes["success"], outcomes["error"]) == (total, FAILING_ONCE)
    retries = FAILING_ONCE + outcomes["timeout"]

    work = [body for path, _, body in answers if path == "/ticks/work"]
    schedule = [body for path, _, body in answers if path == "/ticks/schedule"]
    promoted = sum(b["promoted"] for b in work) + sum(
        b["promoted"] + b["retried"] for b in schedule
    )
    assert promoted == total + retries, "each job promoted once, and once per retry"
    assert sum(b["succeeded"] for b in work) == total
    assert sum(b["failed"] for b in work) == retries
    assert sum(b["recurring_enqueued"] for b in schedule) == recurring
    print(
        f"\n{len(answers)} ticks in {len(answers) // (SCHEDULE_TICKS + WORK_TICKS)} rounds:"
        f" {total} jobs ({recurring} recurring), {promoted} promotions, "
        f"{len(executions)} executions ({outcomes['timeout']} timed out), 0 duplicates"
    )
