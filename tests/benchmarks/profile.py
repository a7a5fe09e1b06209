"""Profiles of one drain with py-spy: `python -m tests.benchmarks.profile [--path inprocess]`.

Seeds the benchmark database, runs one worker process of the chosen path under py-spy, and
prints where its time went: inclusive shares of the frames that matter and the top frames by
self time. By default the samples are wall clock (`--idle`: waiting on MariaDB counts); with
--cpu only samples holding the GIL count (`--gil`), i.e. the worker's own Python CPU. The raw
collapsed stacks go to build/benchmarks/profile-<path>-b<batch>-<wall|cpu>.txt (flamegraph.pl
input).
Run it with .venv-bench's python (run.sh builds it); py-spy comes from there.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.benchmarks import bare, bench_db, inprocess
from tests.benchmarks.plan import MARIADB_URL

OUT = Path(__file__).resolve().parents[2] / "build" / "benchmarks"
DRAIN_FRAME = "worker (tests/benchmarks/"  # bare.worker and inprocess.worker
# Frames whose inclusive share explains a worker's time; matched as substrings of a frame.
WATCH = (
    "claim (common/claim.py",
    "finish (common/finish.py",
    "_promote (common/worker.py",
    "_execute (common/worker.py",
    "release (common/claim.py",
    "extend_leases (common/claim.py",
    "_checkout (sqlalchemy/pool/base.py",
    "_do_ping_w_event",
    "_compile_w_cache",
    "_execute_context (sqlalchemy/engine/base.py",
    "do_commit (sqlalchemy",
    "_read_packet (pymysql",
    "recv_into",
    "uuid4",
    "begin (sqlalchemy/engine/base.py",
)


def child(path: str, batch: int) -> None:
    """The profiled process: one worker of ``path`` draining the seeded jobs, no barrier."""
    spec = (
        bare.BareSpec(MARIADB_URL, batch)
        if path == "bare"
        else inprocess.TickSpec(MARIADB_URL, batch)
    )
    body = bare.worker if path == "bare" else inprocess.worker
    started = time.monotonic()
    seen = body(spec, lambda: None)  # type: ignore[arg-type]
    print(f"{len(seen)} jobs in {time.monotonic() - started:.2f} s", flush=True)


def record(path: str, batch: int, jobs: int, rate: int, idle: bool) -> Path:
    engine = bench_db.prepare(MARIADB_URL)
    bench_db.empty(engine)
    bench_db.seed(engine, jobs)
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"profile-{path}-b{batch}-{'wall' if idle else 'cpu'}.txt"
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [
        str(py_spy),
        "record",
        "--idle",
        "--format",
        "raw",
        "-r",
        str(rate),
        "-o",
        str(out),
        "--",
        sys.executable,
        "-m",
        "tests.benchmarks.profile",
        "--child",
        "--path",
        path,
        "--batch",
        str(batch),
    ]
    subprocess.run(command, check=True)
    bench_db.check_all_succeeded(engine, jobs, attempts_table=path != "bare")
    return out


def summarize(raw: Path, top: int = 20, idle: bool = True) -> str:
    """Inclusive shares of WATCH frames and the top frames by self samples, in the drain loop.

    Only the drain's own thread counts: the tick's lease keeper thread sleeps all along.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        if not any(DRAIN_FRAME in frame for frame in frames):
            continue
        total += n
        own[_short(frames[-1])] += n
        for watched in WATCH:
            if any(watched in frame for frame in frames):
                inclusive[watched] += n
    kind = "wall clock, waits included" if idle else "holding the GIL: Python on CPU"
    lines = [f"{total} samples of the drain loop ({kind})", "", "inclusive:"]
    lines += [f"  {inclusive[w] / total:6.1%}  {w}" for w in WATCH if inclusive[w]]
    lines += ["", "self (top frames):"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split('site-packages/')[-1]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.profile")
    parser.add_argument("--path", choices=("inprocess", "bare"), default="inprocess")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=500, help="samples per second")
    parser.add_argument(
        "--cpu", action="store_true", help="on-CPU samples only (default: wall clock)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.path, args.batch)
        return
    raw = record(args.path, args.batch, args.jobs, args.rate, idle=not args.cpu)
    print(summarize(raw, idle=not args.cpu))
    print(f"\nraw stacks: {raw}")


if __name__ == "__main__":
    main()
