"""What a run found: drain rates per path and configuration, other figures, and free tables."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.benchmarks.procs import Drain


@dataclass
class Table:
    """A table as printed and written to docs/BENCHMARKS.md."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Results:
    # path ("bare", "inprocess", "http", "procrastinate", "rq") -> "W/batch" -> jobs/s of runs
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # path -> "W/batch" -> its rate / the bare loop's rate, one per (bare, path) pair of runs
    paired: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # path -> "W/batch" -> [worker CPU µs per job, database CPU µs per job] of each run
    cpu: dict[str, dict[str, list[list[float]]]] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)  # named single numbers
    tables: list[Table] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # verbatim blocks (EXPLAIN)
    skipped: dict[str, str] = field(default_factory=dict)  # section -> why

    def add(self, path: str, workers: int, batch: int, drain: Drain) -> None:
        self.samples.setdefault(path, {}).setdefault(key(workers, batch), []).append(drain.rate)
        per_job = [
            1e6 * drain.worker_cpu_seconds / drain.jobs,
            1e6 * drain.db_cpu_seconds / drain.jobs,
        ]
        self.cpu.setdefault(path, {}).setdefault(key(workers, batch), []).append(per_job)

    def add_pair(self, path: str, workers: int, batch: int, bare: Drain, mine: Drain) -> None:
        """Runs made back to back: their ratio is free of the machine's drift between them."""
        self.add("bare", workers, batch, bare)
        self.add(path, workers, batch, mine)
        pairs = self.paired.setdefault(path, {}).setdefault(key(workers, batch), [])
        pairs.append(mine.rate / bare.rate)

    def rate(self, path: str, workers: int, batch: int) -> float | None:
        """The median jobs/s of ``path`` at ``workers``/``batch``; None if not measured."""
        found = self.samples.get(path, {}).get(key(workers, batch))
        return statistics.median(found) if found else None

    def ratio(self, path: str, workers: int, batch: int) -> float | None:
        """``path`` as a share of the bare loop: median of paired runs, else of the medians."""
        pairs = self.paired.get(path, {}).get(key(workers, batch))
        if pairs:
            return statistics.median(pairs)
        mine, bare = self.rate(path, workers, batch), self.rate("bare", workers, batch)
        return mine / bare if mine and bare else None

    def cpu_per_job(self, path: str, workers: int, batch: int) -> tuple[float, float] | None:
        """Median (worker, database) CPU microseconds per job of ``path``'s runs."""
        found = self.cpu.get(path, {}).get(key(workers, batch))
        if not found:
            return None
        return statistics.median(r[0] for r in found), statistics.median(r[1] for r in found)

    def runs(self, path: str, workers: int, batch: int) -> str:
        found = self.samples.get(path, {}).get(key(workers, batch), [])
        if len(found) < 2:
            return f"{len(found)} run"
        return f"{len(found)} runs, {min(found):,.0f}-{max(found):,.0f}"

    def configs(self, path: str) -> list[tuple[int, int]]:
        """The (workers, batch) configurations measured for ``path``, by batch then workers."""
        pairs = [tuple(map(int, k.split("/"))) for k in self.samples.get(path, {})]
        return sorted(((w, b) for w, b in pairs), key=lambda wb: (wb[1], wb[0]))

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def key(workers: int, batch: int) -> str:
    return f"{workers}/{batch}"
