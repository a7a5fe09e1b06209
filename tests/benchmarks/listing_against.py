"""The listing's p50 against an earlier commit's, in one process, alternating rounds.

`python -m tests.benchmarks.listing_against --commit af80cc6 [--finished 1000000]` (with
.venv-bench's python): the listing section's table (``--finished`` jobs, 300 of them DLQ, 5
queues) is seeded once; then ``common.queries.list_jobs`` as it is now and as it was at
``--commit`` (that commit's common/queries.py, loaded beside the current modules) list the
same pages in turn, and the median of each round's p50 is printed. The machine's speed moves
from hour to hour; the two sides of one round see the same machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from sqlalchemy import Engine

from common import queries
from common.maintenance import JobFilter
from common.states import Status
from tests.benchmarks import bench_db, listing
from tests.benchmarks.plan import MARIADB_URL

REPO = Path(__file__).resolve().parents[2]
CASES = {
    "status=DLQ, page 1": JobFilter(status=Status.DLQ),
    "status=DLQ&queue=q1, page 1": JobFilter(status=Status.DLQ, queue="q1"),
    "status=SUCCESS, page 1": JobFilter(status=Status.SUCCESS),
}


def queries_at(commit: str) -> ModuleType:
    """common/queries.py as it was at ``commit``, as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{commit}:common/queries.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "queries_then.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("queries_then", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def p50_ms(engine: Engine, module: ModuleType, where: JobFilter, samples: int) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        with engine.connect() as conn:
            rows, _ = module.list_jobs(conn, where, limit=listing.PAGE)
        times.append((time.perf_counter() - started) * 1000)
        assert rows, f"{where}: an empty page"
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", required=True, help="the commit to compare with")
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=200, help="pages listed per round")
    args = parser.parse_args()
    then = queries_at(args.commit)
    engine = bench_db.prepare(MARIADB_URL)
    listing.seed_finished(engine, args.finished)
    sides = {f"at {args.commit}": then, "now": queries}
    figures: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for side, module in sides.items():
            for case, where in CASES.items():
                figures.setdefault((side, case), []).append(
                    p50_ms(engine, module, where, args.samples)
                )
    print(f"{args.finished:,} finished jobs; p50 ms, the median of {args.rounds} rounds")
    print("| listing | " + " | ".join(sides) + " |")
    print("|---|" + "---|" * len(sides))
    for case in CASES:
        cells = [f"{statistics.median(figures[(side, case)]):.2f}" for side in sides]
        print(f"| {case} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
