"""Section `durability`: what MariaDB's durable commit costs the in-process no-op drain.

The same drain (section 2's: SQL-seeded due jobs, 4 worker_tick processes, batch 10 and 100)
with ``innodb_flush_log_at_trx_commit`` at 1 (the default: the redo log is flushed to disk at
every commit) and at 2 (written at commit, flushed about once a second: a crash of the machine,
not of MariaDB, can lose the last second of commits). The runs alternate, and the setting is
put back in a ``finally`` whatever happens. SET GLOBAL changes the whole server: the benchmark
expects its own (or a quiet) MariaDB. skiplock's default stays durable; this is what a user
trades by changing it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from tests.benchmarks import inprocess
from tests.benchmarks.plan import MARIADB_URL, Plan
from tests.benchmarks.results import Results, Table

WORKERS = 4
SETTINGS = (1, 2)  # innodb_flush_log_at_trx_commit: durable, then flushed once a second


@contextmanager
def flush_log_at_commit(engine: Engine, value: int) -> Iterator[None]:
    """The server's innodb_flush_log_at_trx_commit at ``value`` for the block, then as before."""
    with engine.connect() as conn:
        before = int(
            conn.execute(text("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit")).scalar_one()
        )
        conn.execute(text(f"SET GLOBAL innodb_flush_log_at_trx_commit = {int(value)}"))
        try:
            yield
        finally:
            conn.execute(text(f"SET GLOBAL innodb_flush_log_at_trx_commit = {before}"))


def run(plan: Plan, results: Results, engine: Engine) -> None:
    table = Table(
        "Durability: the in-process no-op drain by innodb_flush_log_at_trx_commit (MariaDB)",
        ["batch", "workers", "=1 (durable, default) jobs/s", "=2 jobs/s", "=2 / =1"],
    )
    for batch in plan.batches:
        jobs = plan.jobs_for(batch)
        rates: dict[int, list[float]] = {value: [] for value in SETTINGS}
        for repeat in range(max(plan.repeats, 1)):
            order = SETTINGS if repeat % 2 == 0 else SETTINGS[::-1]
            for value in order:
                with flush_log_at_commit(engine, value):
                    drained = inprocess.drain(MARIADB_URL, WORKERS, batch, jobs, engine)
                rates[value].append(drained.rate)
        durable, relaxed = (statistics.median(rates[value]) for value in SETTINGS)
        results.figures[f"durability.b{batch}.flush1"] = durable
        results.figures[f"durability.b{batch}.flush2"] = relaxed
        table.rows.append(
            [
                str(batch),
                str(WORKERS),
                f"{durable:,.0f}",
                f"{relaxed:,.0f}",
                f"{relaxed / durable:.2f}",
            ]
        )
        print(
            f"  batch {batch:>3}: flush=1 {durable:>8,.0f} jobs/s, flush=2 {relaxed:>8,.0f} jobs/s"
        )
    table.notes.append(
        "Medians of alternating runs; =1 is what skiplock is measured with everywhere else. "
        "=2 can lose about the last second of commits if the machine (not MariaDB) crashes."
    )
    results.tables.append(table)
