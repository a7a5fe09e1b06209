"""The report: tables printed to the terminal and written to docs/BENCHMARKS.md, and the chart."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.results import Results, Table
from tests.benchmarks.targets import Verdict, judge

ANALYSIS = Path(__file__).with_name("analysis.md")
CHART_NAME = "benchmarks-throughput.png"
PATHS = (("bare", "bare loop"), ("inprocess", "skiplock in-process"), ("http", "skiplock HTTP"))


def markdown_table(table: Table) -> str:
    lines = [f"### {table.title}", "", "| " + " | ".join(table.columns) + " |"]
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    lines += [""] + [f"{note}" for note in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def drain_table(results: Results) -> Table:
    """Every drain configuration: bare, and each skiplock path as a share of bare."""
    table = Table(
        "Drain throughput (no-op jobs, jobs/s, median of the runs)",
        [
            "workers",
            "batch",
            "bare loop",
            "skiplock in-process",
            "% of bare",
            "skiplock HTTP",
            "% of bare",
        ],
    )
    configs = sorted(
        {wb for path, _ in PATHS for wb in results.configs(path)}, key=lambda wb: (wb[1], wb[0])
    )
    for workers, batch in configs:
        row = [str(workers), str(batch), _rate(results.rate("bare", workers, batch))]
        for path in ("inprocess", "http"):
            ratio = results.ratio(path, workers, batch)
            row += [_rate(results.rate(path, workers, batch)), f"{ratio:.0%}" if ratio else "-"]
        table.rows.append(row)
    spreads = [
        f"{label} {w}/{b}: {results.runs(path, w, b)}"
        for path, label in PATHS
        for w, b in results.configs(path)
    ]
    table.notes.append(
        "A skiplock run and a bare-loop run are made back to back; '% of bare' is the median of "
        "those pairs' ratios, and 'bare loop' the median of all its runs (its own section's and "
        "the paired ones). Runs (workers/batch: count, min-max jobs/s): " + "; ".join(spreads) + "."
    )
    return table


def cpu_table(results: Results) -> Table:
    """CPU per job, worker side and database side: on 2 cores, what the throughput can be."""
    table = Table(
        "CPU per job (microseconds, median of the runs; worker side / MariaDB server)",
        ["workers", "batch", "bare loop", "skiplock in-process", "skiplock HTTP (server)"],
    )
    configs = sorted(
        {wb for path, _ in PATHS for wb in results.configs(path)}, key=lambda wb: (wb[1], wb[0])
    )
    for workers, batch in configs:
        row = [str(workers), str(batch)]
        for path, _ in PATHS:
            cpu = results.cpu_per_job(path, workers, batch)
            row.append(f"{cpu[0]:,.0f} / {cpu[1]:,.0f}" if cpu else "-")
        table.rows.append(row)
    table.notes.append(
        "Worker side: user+system CPU of the worker processes from the start barrier to their "
        "end (for HTTP, of the gateway's processes, where the ticks run). MariaDB: the server "
        "process over the same span. The machine has 2 cores: 1e6 * 2 / (worker + MariaDB) is "
        "the most jobs/s the pair could reach if nothing waited."
    )
    return table


def peers_table(results: Results) -> Table:
    table = Table(
        "Peers on the same box (no-op jobs, jobs/s)",
        [
            "workers",
            "procrastinate",
            "rq",
            "skiplock in-process, batch 10",
            "skiplock / faster peer",
        ],
    )
    workers = sorted({w for p in ("procrastinate", "rq") for w, _ in results.configs(p)})
    for w in workers:
        peers = [r for r in (results.rate("procrastinate", w, 1), results.rate("rq", w, 1)) if r]
        mine = results.rate("inprocess", w, 10)
        ratio = f"{mine / max(peers):.1f}x" if mine and peers else "-"
        procrastinate, rq = results.rate("procrastinate", w, 1), results.rate("rq", w, 1)
        table.rows.append([str(w), _rate(procrastinate), _rate(rq), _rate(mine), ratio])
    return table


def verdict_table(verdicts: list[Verdict]) -> Table:
    table = Table("Targets (issues 5, 10 and 15)", ["target", "measured", "met"])
    marks = {True: "yes", False: "**no**", None: "not measured"}
    table.rows = [[v.target, v.measured, marks[v.met]] for v in verdicts]
    return table


def all_tables(results: Results) -> list[Table]:
    tables = [verdict_table(judge(results)), drain_table(results), cpu_table(results)]
    if any(results.configs(p) for p in ("procrastinate", "rq")):
        tables.append(peers_table(results))
    return tables + results.tables


def render(results: Results, header: dict[str, str], chart: str | None) -> str:
    parts = ["# Benchmarks", "", _GENERATED, ""]
    parts += [f"- **{name}**: {value}" for name, value in header.items()]
    parts.append("")
    parts += [markdown_table(table) for table in all_tables(results)]
    if chart:
        parts += ["### Throughput against worker count", "", f"![throughput]({chart})", ""]
    if "explain" in results.texts:
        parts += [
            "### EXPLAIN of the claim's SELECT",
            "",
            "```",
            results.texts["explain"],
            "```",
            "",
        ]
    for section, why in results.skipped.items():
        parts.append(f"- Section `{section}` did not run: {why}")
    if ANALYSIS.exists():
        parts += ["", ANALYSIS.read_text().strip(), ""]
    return "\n".join(parts).rstrip() + "\n"


def chart(results: Results, target: Path) -> bool:
    """Throughput against worker count, one line per path and batch size, peers as points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    styles = {"bare": "-", "inprocess": "--", "http": ":"}  # a path's line style
    colors = {1: "C0", 10: "C1", 100: "C2"}  # a batch size's colour
    for name, label in PATHS:
        for batch in sorted({b for _, b in results.configs(name)}):
            points = [(w, results.rate(name, w, b)) for w, b in results.configs(name) if b == batch]
            ax.plot(
                *zip(*points, strict=True),
                styles[name],
                color=colors.get(batch, "C3"),
                marker="o",
                label=f"{label}, batch {batch}",
            )
    for peer, marker, nudge in (("procrastinate", "s", 0.95), ("rq", "^", 1.05)):
        # nudged apart on the x axis: the two peers' figures are often nearly equal
        nudged = [(w * nudge, results.rate(peer, w, b)) for w, b in results.configs(peer)]
        if nudged:
            ax.plot(*zip(*nudged, strict=True), marker, linestyle="none", label=peer, color="k")
    if not ax.lines:
        plt.close(fig)
        return False
    ax.set_xscale("log", base=2)
    ax.set_xticks([1, 2, 4, 8], ["1", "2", "4", "8"])
    ax.set_yscale("log")
    ax.set_xlabel("worker processes")
    ax.set_ylabel("jobs/s (no-op jobs)")
    ax.set_title("Drain throughput on one MariaDB (2-core machine)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return True


def print_tables(results: Results) -> None:
    for table in all_tables(results):
        print()
        print(markdown_table(table))


def _rate(value: float | None) -> str:
    return f"{value:,.0f}" if value else "-"


_GENERATED = (
    "Generated by `tests/benchmarks/run.sh` (see tests/benchmarks/README.md); "
    "the figures below come from the run described here. Do not edit by hand: the analysis "
    "at the end comes from tests/benchmarks/analysis.md."
)
