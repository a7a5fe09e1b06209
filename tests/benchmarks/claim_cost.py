"""Section 6, claim cost as the table grows: 10k vs 1M finished jobs, and 100k delayed ones.

Each scenario has a database of its own on the same server (skiplock_bench_claim_<name>),
seeded once. The claims are then timed interleaved, one claim in each database in turn, so
whatever else the machine does at that moment weighs on every scenario alike. A claim is
common.claim.claim of 10 (SELECT ... FOR UPDATE SKIP LOCKED, UPDATE by primary key, commit)
on freshly seeded due jobs; the idle worker's promotion step (promote_due with nothing due) is
timed the same way. The EXPLAIN of the claim's SELECT is captured from a real claim() call on
the largest table, so it is exactly the query skiplock sends.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from common.claim import claim
from common.schedule import promote_due
from common.states import Status
from tests.benchmarks.bench_db import analyze, empty, prepare, seed, settle
from tests.benchmarks.plan import MARIADB_URL, Plan
from tests.benchmarks.procs import percentile
from tests.benchmarks.results import Results, Table

CLAIM_LIMIT = 10
WARMUP_CLAIMS = 10
ROUNDS = 3
DELAYED_RUN_AT = "UTC_TIMESTAMP(6) + INTERVAL 1 DAY"


@dataclass
class Scenario:
    name: str
    label: str
    finished: int
    delayed: int = 0
    engine: Engine | None = None
    claims: list[list[float]] = field(default_factory=list)  # ms, one list per round
    promotes: list[float] = field(default_factory=list)  # ms

    @property
    def url(self) -> str:
        name = f"{make_url(MARIADB_URL).database}_claim_{self.name}"
        return make_url(MARIADB_URL).set(database=name).render_as_string(hide_password=False)

    def setup(self) -> float:
        """Create, migrate and fill this scenario's database; returns the seconds it took."""
        started = time.monotonic()
        self.engine = prepare(self.url)
        empty(self.engine)
        seed(self.engine, self.finished, status="SUCCESS")
        if self.delayed:
            seed(self.engine, self.delayed, status="CREATED", run_at=DELAYED_RUN_AT)
        return time.monotonic() - started

    def drop(self) -> None:
        assert self.engine is not None
        database = self.engine.url.database
        with self.engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
        self.engine.dispose()


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _claim_one(engine: Engine) -> None:
    got = claim(engine, worker_id="bench", limit=CLAIM_LIMIT, lease_seconds=600)
    assert len(got) == CLAIM_LIMIT, f"claimed {len(got)} of {CLAIM_LIMIT}"


def _round(scenarios: list[Scenario], samples: int) -> None:
    """Fresh due jobs in every database, then claims taken in each database in turn."""
    engines = [s.engine for s in scenarios if s.engine is not None]
    for engine in engines:
        seed(engine, (samples + WARMUP_CLAIMS) * CLAIM_LIMIT)
        analyze(engine)
    settle(engines[0])  # one server: its backlog is shared
    for engine in engines:
        for _ in range(WARMUP_CLAIMS):
            _claim_one(engine)
    timings: list[list[float]] = [[] for _ in scenarios]
    for _ in range(samples):
        for timing, engine in zip(timings, engines, strict=True):
            timing.append(_timed(partial(_claim_one, engine)))
    for scenario, timing in zip(scenarios, timings, strict=True):
        scenario.claims.append(timing)


def _promotions(scenarios: list[Scenario], samples: int) -> None:
    for _ in range(samples):
        for scenario in scenarios:
            assert scenario.engine is not None
            promote = partial(promote_due, scenario.engine, Status.CREATED)
            scenario.promotes.append(_timed(promote))


def explain_claim(engine: Engine) -> list[dict[str, Any]]:
    """EXPLAIN of the SELECT that claim() sends, captured from the wire."""
    sent: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "SKIP LOCKED" in statement:
            sent.append((statement, params))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        claim(engine, worker_id="explain", limit=CLAIM_LIMIT, lease_seconds=600)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    statement, params = sent[0]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("EXPLAIN " + statement, params)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        raw.rollback()
        return rows
    finally:
        raw.close()


def plan_ok(rows: list[dict[str, Any]]) -> bool:
    extra = " ".join(str(r.get("Extra") or "") for r in rows).lower()
    return any(r.get("key") == "ix_jobs_claim" for r in rows) and "filesort" not in extra


def _report(scenario: Scenario, table: Table, results: Results) -> None:
    p50 = statistics.median(percentile(r, 50) for r in scenario.claims)
    p95 = statistics.median(percentile(r, 95) for r in scenario.claims)
    results.figures[f"claim.{scenario.name}.p50_ms"] = p50
    results.figures[f"claim.{scenario.name}.p95_ms"] = p95
    results.figures[f"promote.{scenario.name}.p50_ms"] = percentile(scenario.promotes, 50)
    table.rows.append(
        [
            scenario.label,
            f"{p50:.2f}",
            f"{p95:.2f}",
            f"{percentile(scenario.promotes, 50):.2f}",
            f"{percentile(scenario.promotes, 95):.2f}",
        ]
    )
    print(f"  claim, {scenario.label:<40} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms")


def run(plan: Plan, results: Results, engine: Engine) -> None:
    small, large = plan.claim_finished
    scenarios = [
        Scenario("small", f"{small:,} finished", small),
        Scenario(
            "delayed",
            f"{small:,} finished + {plan.claim_delayed:,} delayed",
            small,
            plan.claim_delayed,
        ),
        Scenario("large", f"{large:,} finished", large),
    ]
    try:
        seconds = {s.name: s.setup() for s in scenarios}
        for _ in range(ROUNDS):
            _round(scenarios, plan.claim_samples)
        _promotions(scenarios, plan.claim_samples)
        explain = explain_claim(scenarios[-1].engine)  # type: ignore[arg-type]
    finally:
        for scenario in scenarios:
            if scenario.engine is not None:
                scenario.drop()
    table = Table(
        f"Claim latency (claim() of {CLAIM_LIMIT}, one process, ms; median of {ROUNDS} rounds)",
        ["table holds", "claim p50", "claim p95", "idle promote p50", "idle promote p95"],
    )
    for scenario in scenarios:
        _report(scenario, table, results)
    table.notes.append(
        f"Each scenario has its own database on the same server; claims are taken in each in "
        f"turn, {plan.claim_samples} per scenario and round, on fresh due jobs. Seeding "
        f"{large:,} finished jobs took {seconds['large']:.0f} s (INSERT ... SELECT from the "
        "SEQUENCE engine). 'Idle promote' is promote_due(CREATED) with nothing due: what an "
        "idle worker adds per poll."
    )
    results.tables.append(table)
    results.texts["explain"] = _format_explain(explain)
    results.figures["claim.plan_ok"] = 1.0 if plan_ok(explain) else 0.0
    print(results.texts["explain"])


def _format_explain(rows: list[dict[str, Any]]) -> str:
    names = list(rows[0])
    lines = [" | ".join(names)]
    lines += [" | ".join(str(row[n]) for n in names) for row in rows]
    return "\n".join(lines)
