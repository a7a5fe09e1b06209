"""The io section's tick overrun: how long after its budget a worker tick answers, with hung
handlers among its jobs.

The local stack loads hang_jobs.py (JOB_MODULES). The queue holds 50 ms sleep jobs; every
``HANG_EVERY``-th is a ``hang`` (given up on at its 1 s timeout) and every
``HANG_LONG_EVERY``-th a ``hang_long`` (given up on when its tick's budget runs out); none
of them ever returns on its own. ``CLIENTS`` clients post ticks back to back, budgets of
2 s and every ``LONG_EVERY``-th of 5 s; a tick's overrun is its answer time, on the client,
minus its budget.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from common.config import Settings
from tests.benchmarks import hang_jobs, over_http
from tests.benchmarks.bench_db import (
    SLEEP,
    BenchError,
    JobKind,
    count_by_status,
    empty,
    retype,
    seed,
)
from tests.benchmarks.plan import Plan
from tests.benchmarks.procs import percentile
from tests.benchmarks.results import Results, Table
from tests.benchmarks.stack import Client, local_stack

CLIENTS = 4
# Ticks are dealt to the clients in turn: LONG_EVERY prime to CLIENTS spreads the long ones.
BUDGET_SECONDS, LONG_BUDGET_SECONDS, LONG_EVERY = 2.0, 5.0, 5
JOBS_PER_TICK = 500  # more than a tick can run, so every tick meets hung handlers
HANG_EVERY, HANG_LONG_EVERY = 40, 200
TARGET_SECONDS = 1.0
DEFAULTS = Settings()  # the stack runs with the default batch size and concurrency


@dataclass(frozen=True)
class Tick:
    """One tick as its client saw it."""

    budget_seconds: float
    answered_seconds: float
    summary: dict[str, int]

    @property
    def overrun_seconds(self) -> float:
        return self.answered_seconds - self.budget_seconds


def budgets(ticks: int) -> list[float]:
    """The budget of each tick, in the order they are posted."""
    return [LONG_BUDGET_SECONDS if n % LONG_EVERY == 0 else BUDGET_SECONDS for n in range(ticks)]


def client(base_url: str, budgets: list[float]) -> list[Tick]:
    """Post one tick per budget, back to back, timing each from request to answer."""
    conn = Client(base_url)
    ticks = []
    for budget in budgets:
        started = time.monotonic()
        status, answer = conn.call("POST", "/ticks/work", {"budget_seconds": budget})
        answered = time.monotonic() - started
        if status != 200:
            raise BenchError(f"a tick with hung handlers answered {status}: {answer}")
        ticks.append(Tick(budget, answered, answer))
    conn.close()
    return ticks


def seed_mix(engine: Engine, jobs: int) -> None:
    empty(engine)
    seed(engine, jobs, kind=SLEEP)
    retype(engine, JobKind(hang_jobs.HANG_TYPE), HANG_EVERY)
    retype(engine, JobKind(hang_jobs.HANG_LONG_TYPE), HANG_LONG_EVERY)


def fire(plan: Plan, engine: Engine) -> list[Tick]:
    """Every tick of the plan against a stack that knows the hanging types."""
    batch, modules = DEFAULTS.worker_batch_size, hang_jobs.__name__
    with local_stack(over_http.STACK_PORT, CLIENTS, batch, JOB_MODULES=modules).start() as stack:
        stack.wait_until_answering("GET", "/openapi.json", None, 60)
        empty(engine)
        over_http.warm(stack.base_url, CLIENTS)
        seed_mix(engine, plan.overrun_ticks * JOBS_PER_TICK)
        all_budgets = budgets(plan.overrun_ticks)
        with ThreadPoolExecutor(CLIENTS) as pool:
            shares = [all_budgets[n::CLIENTS] for n in range(CLIENTS)]
            return [
                t for ticks in pool.map(client, [stack.base_url] * CLIENTS, shares) for t in ticks
            ]


def total(ticks: list[Tick], name: str) -> int:
    return sum(tick.summary.get(name, 0) for tick in ticks)


def run(plan: Plan, results: Results, engine: Engine) -> None:
    """Fire the ticks, check hung handlers were met, add the figures and the table."""
    ticks = fire(plan, engine)
    left = count_by_status(engine)
    empty(engine)
    if total(ticks, "timed_out") == 0:
        raise BenchError("no tick met a hung handler: the overrun was not measured")
    overruns = [tick.overrun_seconds for tick in ticks]
    worst, p95, p50 = max(overruns), percentile(overruns, 95), percentile(overruns, 50)
    results.figures.update(
        {
            "io.overrun.max_s": worst,
            "io.overrun.p95_s": p95,
            "io.overrun.p50_s": p50,
            "io.overrun.ticks": len(ticks),
        }
    )
    results.tables.append(table(ticks, worst, p95, p50, left))
    print(
        f"  overrun over {len(ticks)} ticks: max {worst:.3f} s, p95 {p95:.3f} s, "
        f"p50 {p50:.3f} s; {total(ticks, 'timed_out')} attempts given up on",
        flush=True,
    )


def table(ticks: list[Tick], worst: float, p95: float, p50: float, left: dict[str, Any]) -> Table:
    counts = Counter(tick.budget_seconds for tick in ticks)
    return Table(
        "Worker tick overrun with hung handlers (answer time on the client - budget)",
        [
            "ticks",
            "budgets",
            "max s",
            "p95 s",
            "p50 s",
            "succeeded",
            "given up on",
            "handed back",
            "of which did not fit",
        ],
        [
            [
                str(len(ticks)),
                ", ".join(f"{counts[b]} x {b:g} s" for b in sorted(counts)),
                f"{worst:.3f}",
                f"{p95:.3f}",
                f"{p50:.3f}",
                f"{total(ticks, 'succeeded'):,}",
                f"{total(ticks, 'timed_out'):,}",
                f"{total(ticks, 'released'):,}",
                f"{total(ticks, 'did_not_fit'):,}",
            ]
        ],
        [
            f"{CLIENTS} clients post ticks back to back (default settings: WORKER_CONCURRENCY "
            f"{DEFAULTS.worker_concurrency}, batch {DEFAULTS.worker_batch_size}) at a queue of "
            f"50 ms sleep jobs where every "
            f"{HANG_EVERY}th is a `hang` (1 s timeout) and every {HANG_LONG_EVERY}th a "
            "`hang_long` (30 s timeout, declared quick): both block 60 s and ignore their "
            "context (tests/benchmarks/hang_jobs.py). 'given up on' counts the attempts the "
            "ticks abandoned at a timeout or at their end. 'did not fit': claimed in a tick's "
            "last moments, when no job can end before it does, and handed back; the tick goes on "
            "claiming and handing back batches until its end. Jobs after the ticks: "
            + ", ".join(f"{n:,} {status}" for status, n in sorted(left.items()))
            + f". The target is a max of at most {TARGET_SECONDS:g} s.",
        ],
    )
