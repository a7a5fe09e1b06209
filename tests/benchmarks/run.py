"""The benchmark's entry point: `python -m tests.benchmarks.run [--quick] [--sections a,b]`.

Use tests/benchmarks/run.sh, which first builds the benchmark's own environment (.venv-bench).
A full run of every section writes docs/BENCHMARKS.md and its chart; other runs write theirs
under build/benchmarks/.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from tests.benchmarks import (
    bare,
    bench_db,
    claim_cost,
    durability,
    http_functions,
    inprocess,
    io_bound,
    latency,
    listing,
    machine,
    memory,
    peers,
    postgres,
    queue_controls,
    report,
    submit,
    whole_path,
)
from tests.benchmarks.plan import MARIADB_URL, SECTIONS, Plan, full, quick
from tests.benchmarks.results import Results, Table

Section = Callable[[Plan, Results, Engine], None]
RUNNERS: dict[str, Section] = {
    "bare": bare.run,
    "inprocess": inprocess.run,
    "http": http_functions.run,
    "submit": submit.run,
    "latency": latency.run,
    "claim_cost": claim_cost.run,
    "memory": memory.run,
    "peers": lambda plan, results, _engine: peers.run(plan, results),
    "io": io_bound.run,
    "controls": queue_controls.run,
    "whole": whole_path.run,
    "postgres": postgres.run,
    "durability": durability.run,
    "listing": listing.run,
}
DOCS = machine.REPO / "docs"
SCRATCH = machine.REPO / "build" / "benchmarks"
OFFICIAL_JSON = "official-results.json"  # the last full run's figures, for --render


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tests/benchmarks/run.sh", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a couple of minutes")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of: {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="only write docs/BENCHMARKS.md again from the last full run's figures (after "
        "editing analysis.md); runs nothing",
    )
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    return args


def run_sections(plan: Plan, sections: list[str], results: Results, engine: Engine) -> bool:
    ok = True
    for name in sections:
        print(f"\n== {name}", flush=True)
        started = time.monotonic()
        try:
            RUNNERS[name](plan, results, engine)
        except Exception as exc:
            ok = False
            results.skipped[name] = f"failed: {exc}"
            traceback.print_exc()
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render_again()
    plan = quick() if args.quick else full()
    engine = bench_db.prepare(MARIADB_URL)
    header = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    header["command"] = "`" + shlex.join(["tests/benchmarks/run.sh", *sys.argv[1:]]) + "`"
    header["plan"] = f"{plan.name}; sections: {', '.join(args.sections)}"
    header.update(machine.describe(engine))
    header["load average at start"] = machine.load_average()
    results = Results()
    started = time.monotonic()
    ok = run_sections(plan, args.sections, results, engine)
    header["load average at end"] = machine.load_average()
    header["duration"] = f"{time.monotonic() - started:.0f} s"
    bench_db.empty(engine)
    report.print_tables(results)
    write(results, header, official=not args.quick and args.sections == list(SECTIONS))
    return 0 if ok else 1


def render_again() -> int:
    """Write the last full run's report again from build/benchmarks/official-results.json."""
    saved = json.loads((SCRATCH / OFFICIAL_JSON).read_text())
    header, official = saved.pop("header"), saved.pop("official")
    saved["tables"] = [Table(**table) for table in saved["tables"]]
    write(Results(**saved), header, official=official)
    return 0


def write(results: Results, header: dict[str, str], *, official: bool) -> None:
    """docs/BENCHMARKS.md for a full run of every section; build/benchmarks/ for the others."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    saved = json.dumps(results.as_json() | {"header": header, "official": official}, indent=2)
    (SCRATCH / "results.json").write_text(saved)
    if official:
        (SCRATCH / OFFICIAL_JSON).write_text(saved)
    folder = DOCS if official else SCRATCH
    folder.mkdir(exist_ok=True)
    has_chart = report.chart(results, folder / report.CHART_NAME)
    text = report.render(results, header, report.CHART_NAME if has_chart else None)
    (folder / "BENCHMARKS.md").write_text(text)
    print(f"\nwrote {folder / 'BENCHMARKS.md'}" + (" and the chart" if has_chart else ""))


if __name__ == "__main__":
    sys.exit(main())
