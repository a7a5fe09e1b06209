"""Worker memory: one in-process worker tick's peak RSS through a long drain.

The tick reports its own VmHWM (peak resident set) from /proc, before and after the drain.
The same check for the HTTP function process is in over_http.py.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from tests.benchmarks import inprocess
from tests.benchmarks.bench_db import check_all_succeeded, check_exactly_once, empty, job_ids, seed
from tests.benchmarks.plan import MARIADB_URL, Plan
from tests.benchmarks.procs import run_workers
from tests.benchmarks.results import Results, Table

BATCH = 10  # the deployed default (WORKER_BATCH_SIZE)


def rss_mb(field: str = "VmHWM", pid: int | str = "self") -> float:
    """A memory figure of a process from /proc/<pid>/status, in MB (VmRSS now, VmHWM peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


@dataclass(frozen=True)
class MemorySpec:
    tick: inprocess.TickSpec
    report: str  # where the worker writes its memory figures


def measured_worker(spec: MemorySpec, ready: Callable[[], None]) -> list[int]:
    """inprocess.worker, noting RSS once set up and the peak RSS after the drain."""
    figures: dict[str, float] = {}

    def noted_ready() -> None:
        figures["rss_ready_mb"] = rss_mb("VmRSS")
        ready()

    seen = inprocess.worker(spec.tick, noted_ready)
    figures["rss_end_mb"] = rss_mb("VmRSS")
    figures["peak_mb"] = rss_mb("VmHWM")
    Path(spec.report).write_text(json.dumps(figures))
    return seen


def run(plan: Plan, results: Results, engine: Engine) -> None:
    empty(engine)
    seed(engine, plan.memory_jobs)
    expected = job_ids(engine)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "memory.json"
        spec = MemorySpec(inprocess.TickSpec(MARIADB_URL, BATCH, budget_seconds=1800), str(report))
        drain = run_workers(measured_worker, spec, 1, plan.memory_jobs, timeout_seconds=1800)
        figures = json.loads(report.read_text())
    check_exactly_once(drain.seen, expected)
    check_all_succeeded(engine, plan.memory_jobs, attempts_table=True)
    results.figures["memory.inprocess.peak_mb"] = figures["peak_mb"]
    results.figures["memory.inprocess.rate"] = drain.rate
    table = Table(
        "Worker tick memory (one process, batch 10)",
        ["process", "jobs drained", "jobs/s", "RSS ready MB", "RSS end MB", "peak RSS MB"],
        [
            [
                "in-process work_tick",
                f"{plan.memory_jobs:,}",
                f"{drain.rate:,.0f}",
                f"{figures['rss_ready_mb']:.0f}",
                f"{figures['rss_end_mb']:.0f}",
                f"{figures['peak_mb']:.0f}",
            ]
        ],
    )
    results.tables.append(table)
    print(f"  in-process tick: peak RSS {figures['peak_mb']:.0f} MB over {plan.memory_jobs:,} jobs")
