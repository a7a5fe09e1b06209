"""What one benchmark run measures and how big each measurement is (full or --quick)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

MARIADB_URL = os.environ.get(
    "BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/skiplock_bench"
)
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/skiplock_bench"
)
# Redis database 13 is the benchmark's own; the run empties it (and only it) before each use.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
NOOP_TYPE = "noop"  # the built-in no-op type, so the HTTP stack knows it too
SECTIONS = (
    "bare",
    "inprocess",
    "http",
    "submit",
    "latency",
    "claim_cost",
    "memory",
    "peers",
    "io",
    "controls",
    "whole",
    "postgres",
    "durability",
    "listing",
)


@dataclass(frozen=True)
class Plan:
    """Sizes of every measurement. ``full()`` is the documented run, ``quick()`` a smoke run."""

    name: str
    workers: tuple[int, ...]
    batches: tuple[int, ...]
    drain_jobs: dict[int, int]  # batch size -> jobs per drain
    repeats: int
    submit_jobs: int
    submit_single_jobs: int
    latency_rate_per_second: float
    latency_seconds: float
    claim_finished: tuple[int, int]  # the small and the large table
    claim_delayed: int
    claim_samples: int
    memory_jobs: int
    peer_jobs: int
    peer_workers: tuple[int, ...]
    http_workers: tuple[int, ...]
    io_jobs: int  # sleep jobs per I/O-bound drain, skiplock's and the peers'
    io_ticks: tuple[int, ...]  # concurrent HTTP ticks, at the default WORKER_CONCURRENCY
    io_concurrencies: tuple[int, ...]  # WORKER_CONCURRENCY values, at io.CONCURRENCY_TICKS
    io_drain_seconds: float  # fewer jobs for a drain whose ceiling would take longer
    overrun_ticks: int
    whole_jobs: int  # submitted over HTTP, then drained by HTTP ticks (whole_path.py)
    sections: tuple[str, ...] = field(default=SECTIONS)

    def jobs_for(self, batch: int) -> int:
        return self.drain_jobs[batch]


def full() -> Plan:
    return Plan(
        name="full",
        workers=(1, 2, 4, 8),
        batches=(1, 10, 100),
        drain_jobs={1: 3_000, 10: 10_000, 100: 20_000},
        repeats=3,
        submit_jobs=20_000,
        submit_single_jobs=3_000,
        latency_rate_per_second=100.0,
        latency_seconds=10.0,
        claim_finished=(10_000, 1_000_000),
        claim_delayed=100_000,
        claim_samples=200,
        memory_jobs=100_000,
        peer_jobs=20_000,
        peer_workers=(2, 4),
        http_workers=(1, 2, 4, 8),
        io_jobs=2_000,
        io_ticks=(1, 4, 8),
        io_concurrencies=(1, 10, 50),
        io_drain_seconds=10.0,
        overrun_ticks=30,
        whole_jobs=50_000,
    )


def quick() -> Plan:
    return Plan(
        name="quick",
        workers=(1, 4),
        batches=(10, 100),
        drain_jobs={1: 500, 10: 2_000, 100: 5_000},
        repeats=1,
        submit_jobs=5_000,
        submit_single_jobs=500,
        latency_rate_per_second=100.0,
        latency_seconds=3.0,
        claim_finished=(10_000, 100_000),
        claim_delayed=20_000,
        claim_samples=50,
        memory_jobs=5_000,
        peer_jobs=2_000,
        peer_workers=(2,),
        http_workers=(1, 4),
        io_jobs=1_000,
        io_ticks=(1, 4, 8),
        io_concurrencies=(1, 10, 50),
        io_drain_seconds=5.0,
        overrun_ticks=10,
        whole_jobs=5_000,
    )
