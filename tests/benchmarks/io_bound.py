"""Section 8, I/O-bound jobs: jobs that each wait 50 ms (the built-in ``sleep`` type).

- Drains over HTTP: the local stack on MariaDB, W tick clients posting /ticks/work back to
  back until the queue is empty (over_http.http_drain: timed on the database's clock, every job
  SUCCESS with one attempt row). A tick runs WORKER_CONCURRENCY jobs at once; a worker that
  ran one job at a time could drain at most W / 0.05 jobs/s, the ceiling each rate is compared
  with. W = 1, 4, 8 at the default concurrency, then 4 ticks at each of ``io_concurrencies``.
- Peers on the same jobs in the same run (peers.py): procrastinate awaiting asyncio.sleep,
  rq sleeping in SimpleWorker processes, each running as many jobs at once as skiplock's 4
  ticks do at the default concurrency.
- The tick overrun with hung handlers (overrun.py).
"""

from __future__ import annotations

from sqlalchemy import Engine

from common.config import Settings
from tests.benchmarks import over_http, overrun, peers
from tests.benchmarks.bench_db import SLEEP, SLEEP_SECONDS, empty
from tests.benchmarks.plan import Plan
from tests.benchmarks.results import Results, Table
from tests.benchmarks.stack import local_stack

DEFAULT_CONCURRENCY = Settings().worker_concurrency
BATCH = 10  # WORKER_BATCH_SIZE of every drain here
CONCURRENCY_TICKS = 4  # the ticks of the concurrency table and of the peers' comparison
FIRST_RATE_GUESS = 1000.0  # jobs/s, for a first run's tick budget; later runs use the measured
MAX_BUDGET_SECONDS = 40.0  # within WORKER_BUDGET_SECONDS, the most an HTTP tick may ask
# procrastinate's setups with as many jobs at once as 4 ticks at the default concurrency; the
# best is compared. In trials here 2 x 20 led (about 690 jobs/s), ahead of 1 x 40, 4 x 10 and
# 8 x 5 (590-620): one event loop's CPU binds, and more processes add their own overhead.
PROCRASTINATE_SETUPS = ((2, 20), (4, 10))  # (worker processes, concurrency of each)


def path(concurrency: int) -> str:
    """Where a drain at ``concurrency`` is kept in Results (workers = ticks, batch = BATCH)."""
    return f"io.c{concurrency}"


def one_at_a_time_ceiling(ticks: int) -> float:
    """jobs/s of ``ticks`` workers that each run one job at a time."""
    return ticks / SLEEP_SECONDS


def drain_jobs(plan: Plan, ticks: int, concurrency: int) -> int:
    """The plan's job count, or fewer when even the ceiling would drain it for longer than
    ``plan.io_drain_seconds`` (concurrency 1)."""
    ceiling = one_at_a_time_ceiling(ticks) * concurrency
    return min(plan.io_jobs, int(ceiling * plan.io_drain_seconds))


def tick_budget(results: Results, ticks: int, concurrency: int, jobs: int) -> float:
    """A budget that outlasts the drain, from the last run's rate (a miss costs another tick)."""
    rate = results.rate(path(concurrency), ticks, BATCH)
    if rate is None:
        rate = min(one_at_a_time_ceiling(ticks) * concurrency, FIRST_RATE_GUESS)
    return min(MAX_BUDGET_SECONDS, max(3.0, 1.25 * jobs / rate + 1.5))


def run_drains(plan: Plan, results: Results, engine: Engine) -> None:
    """Each concurrency on a stack of its own; every tick count at the default one."""
    processes = max(plan.io_ticks)
    for concurrency in sorted({*plan.io_concurrencies, DEFAULT_CONCURRENCY}):
        all_ticks = plan.io_ticks if concurrency == DEFAULT_CONCURRENCY else (CONCURRENCY_TICKS,)
        env = {"WORKER_CONCURRENCY": str(concurrency)}
        with local_stack(over_http.STACK_PORT, processes, BATCH, **env).start() as stack:
            stack.wait_until_answering("GET", "/openapi.json", None, 60)
            empty(engine)
            over_http.warm(stack.base_url, processes)
            for ticks in all_ticks:
                jobs = drain_jobs(plan, ticks, concurrency)
                for _ in range(plan.repeats):
                    budget = tick_budget(results, ticks, concurrency, jobs)
                    drain = over_http.http_drain(
                        stack.base_url, ticks, jobs, budget, engine, stack, kind=SLEEP
                    )
                    results.add(path(concurrency), ticks, BATCH, drain)
                show(results, concurrency, ticks)


def show(results: Results, concurrency: int, ticks: int) -> None:
    rate = results.rate(path(concurrency), ticks, BATCH) or 0.0
    times = rate / one_at_a_time_ceiling(ticks)
    print(
        f"  io ticks={ticks} concurrency={concurrency:<3} {rate:>9,.0f} jobs/s"
        f"  {times:5.1f}x one-at-a-time ceiling",
        flush=True,
    )


def run_peers(plan: Plan, results: Results) -> None:
    """procrastinate at each setup, rq with one process per job at once; skiplock's ratios."""
    at_once = CONCURRENCY_TICKS * DEFAULT_CONCURRENCY
    setups = [("procrastinate", w, c) for w, c in PROCRASTINATE_SETUPS] + [("rq", at_once, 1)]
    for peer, workers, concurrency in setups:
        run = peers.PeerRun(SLEEP_SECONDS, concurrency)
        for _ in range(plan.repeats):
            results.add(
                f"io.{peer}", workers, concurrency, peers.drain(peer, workers, plan.io_jobs, run)
            )
        rate = results.rate(f"io.{peer}", workers, concurrency) or 0.0
        print(f"  io {peer:<13} {workers} x {concurrency:<3} {rate:>9,.0f} jobs/s", flush=True)


def best_peer(results: Results, peer: str) -> tuple[float, int, int] | None:
    """The peer's best median rate over its setups, with that setup (workers, concurrency)."""
    found = [
        (results.rate(f"io.{peer}", w, c) or 0.0, w, c) for w, c in results.configs(f"io.{peer}")
    ]
    return max(found, default=None)


def note_figures(plan: Plan, results: Results) -> None:
    """The rates the targets are judged on, and skiplock's ratio to each peer's best."""
    for ticks in plan.io_ticks:
        rate = results.rate(path(DEFAULT_CONCURRENCY), ticks, BATCH)
        if rate:
            results.figures[f"io.http.w{ticks}.rate"] = rate
            results.figures[f"io.http.w{ticks}.x_ceiling"] = rate / one_at_a_time_ceiling(ticks)
    for concurrency in plan.io_concurrencies:
        rate = results.rate(path(concurrency), CONCURRENCY_TICKS, BATCH)
        if rate:
            results.figures[f"io.concurrency.c{concurrency}.rate"] = rate
    mine = results.rate(path(DEFAULT_CONCURRENCY), CONCURRENCY_TICKS, BATCH)
    for peer in peers.PEERS:
        best = best_peer(results, peer)
        if best and best[0]:
            results.figures[f"io.{peer}.rate"] = best[0]
            if mine:
                results.figures[f"io.ratio_vs_{peer}"] = mine / best[0]


def _cells(plan: Plan, results: Results, ticks: int, concurrency: int) -> list[str]:
    """jobs, jobs/s, x one-at-a-time ceiling, % of its own ceiling, CPU, cores busy, runs."""
    where = (path(concurrency), ticks, BATCH)
    rate, cpu = results.rate(*where), results.cpu_per_job(*where)
    if rate is None or cpu is None:
        return ["-"] * 7
    return [
        f"{drain_jobs(plan, ticks, concurrency):,}",
        f"{rate:,.0f}",
        f"{rate / one_at_a_time_ceiling(ticks):.1f}x",
        f"{rate / (one_at_a_time_ceiling(ticks) * concurrency):.0%}",
        f"{cpu[0]:,.0f} / {cpu[1]:,.0f}",
        f"{rate * (cpu[0] + cpu[1]) / 1e6:.2f}",
        results.runs(*where),
    ]


_COLUMNS = [
    "jobs",
    "jobs/s",
    "x one-at-a-time ceiling",
    "% of ticks x concurrency / 0.05 s",
    "CPU µs/job, gateway / MariaDB",
    "cores busy",
    "runs",
]
_NOTES = [
    "The one-at-a-time ceiling is ticks / 0.05 s: what the same ticks would drain if each ran "
    "one job at a time. 'cores busy' is jobs/s x (gateway + MariaDB CPU per job): the machine "
    "has 2; the tick clients only wait and are not counted.",
]


def ticks_table(plan: Plan, results: Results) -> Table:
    table = Table(
        f"I/O-bound drain over HTTP (jobs sleeping {SLEEP_SECONDS * 1000:.0f} ms, "
        f"WORKER_CONCURRENCY {DEFAULT_CONCURRENCY}, batch {BATCH}; median of the runs)",
        ["ticks", *_COLUMNS],
        notes=list(_NOTES),
    )
    for ticks in plan.io_ticks:
        table.rows.append([str(ticks), *_cells(plan, results, ticks, DEFAULT_CONCURRENCY)])
    return table


def concurrency_table(plan: Plan, results: Results) -> Table:
    table = Table(
        f"I/O-bound drain over HTTP, {CONCURRENCY_TICKS} ticks, by WORKER_CONCURRENCY",
        ["WORKER_CONCURRENCY", *_COLUMNS],
        notes=[
            *_NOTES,
            f"A drain has {plan.io_jobs:,} jobs, or what its own ceiling drains in "
            f"{plan.io_drain_seconds:g} s if fewer. Each concurrency runs on a stack of its "
            f"own ({max(plan.io_ticks)} gateway processes); the row at {DEFAULT_CONCURRENCY} is "
            f"the {CONCURRENCY_TICKS}-tick row of the table above.",
        ],
    )
    for concurrency in plan.io_concurrencies:
        cells = _cells(plan, results, CONCURRENCY_TICKS, concurrency)
        table.rows.append([str(concurrency), *cells])
    return table


def peers_table(results: Results) -> Table:
    at_once = CONCURRENCY_TICKS * DEFAULT_CONCURRENCY
    table = Table(
        f"I/O-bound drain, peers on the same jobs ({at_once} at once, jobs/s)",
        ["queue", "setup", "jobs/s", "worker CPU µs/job", "skiplock / this"],
        notes=[
            "procrastinate: an async task awaiting asyncio.sleep, worker processes x their "
            "concurrency; rq: SimpleWorker processes, each running one job (time.sleep) at a "
            "time. skiplock's worker CPU is its gateway processes'; the peers' database "
            "servers (PostgreSQL, Redis) are not counted. The ratios in the targets are to "
            "each peer's best setup.",
        ],
    )
    mine = results.rate(path(DEFAULT_CONCURRENCY), CONCURRENCY_TICKS, BATCH)
    mine_cpu = results.cpu_per_job(path(DEFAULT_CONCURRENCY), CONCURRENCY_TICKS, BATCH)
    setup = f"{CONCURRENCY_TICKS} HTTP ticks x WORKER_CONCURRENCY {DEFAULT_CONCURRENCY}"
    cpu = f"{mine_cpu[0]:,.0f}" if mine_cpu else "-"
    table.rows.append(["skiplock", setup, f"{mine:,.0f}" if mine else "-", cpu, "1.0x"])
    for peer in peers.PEERS:
        for workers, concurrency in results.configs(f"io.{peer}"):
            rate = results.rate(f"io.{peer}", workers, concurrency) or 0.0
            peer_cpu = results.cpu_per_job(f"io.{peer}", workers, concurrency)
            how = f"{workers} processes" + (f" x concurrency {concurrency}" if peer != "rq" else "")
            ratio = f"{mine / rate:.2f}x" if mine and rate else "-"
            cpu = f"{peer_cpu[0]:,.0f}" if peer_cpu else "-"
            table.rows.append([peer, how, f"{rate:,.0f}", cpu, ratio])
    return table


def run(plan: Plan, results: Results, engine: Engine) -> None:
    """Section 8: the drains, the peers, then the overrun; each adds its figures and tables."""
    errors_before = len(over_http.TICK_ERRORS)
    run_drains(plan, results, engine)
    run_peers(plan, results)
    note_figures(plan, results)
    results.tables += [ticks_table(plan, results), concurrency_table(plan, results)]
    results.tables.append(peers_table(results))
    overrun.run(plan, results, engine)
    if len(over_http.TICK_ERRORS) > errors_before:
        results.figures["io.tick_errors"] = len(over_http.TICK_ERRORS) - errors_before
