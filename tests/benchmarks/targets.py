"""Issues 5's, 10's and 15's targets, each judged from this run's own figures (ratios within
the same run)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.benchmarks.results import Results


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: not measured in this run


def _share(target: str, results: Results, path: str, w: int, b: int, floor: float) -> Verdict:
    ratio = results.ratio(path, w, b)
    if ratio is None:
        return Verdict(target, "not measured", None)
    return Verdict(
        target, f"{ratio:.0%} of bare ({results.rate(path, w, b) or 0:,.0f} jobs/s)", ratio >= floor
    )


def _peers(results: Results, batch: int) -> Verdict:
    target = f"skiplock >= 10x the faster peer (4 workers, in-process, batch {batch})"
    mine = results.rate("inprocess", 4, batch)
    peers = [r for r in (results.rate("procrastinate", 4, 1), results.rate("rq", 4, 1)) if r]
    if not mine or not peers:
        return Verdict(target, "not measured", None)
    fastest = max(peers)
    return Verdict(
        target,
        f"{mine / fastest:.1f}x ({mine:,.0f} vs {fastest:,.0f} jobs/s)",
        mine >= 10 * fastest,
    )


def _figure(
    results: Results,
    target: str,
    name: str,
    fmt: Callable[[float], str],
    ok: Callable[[float], bool],
) -> Verdict:
    value = results.figures.get(name)
    if value is None:
        return Verdict(target, "not measured", None)
    return Verdict(target, fmt(value), ok(value))


def _relative(results: Results, target: str, name: str, base: str, limit: float) -> Verdict:
    value, reference = results.figures.get(name), results.figures.get(base)
    if value is None or reference is None:
        return Verdict(target, "not measured", None)
    ratio = value / reference
    return Verdict(target, f"{ratio:.2f}x ({value:.2f} vs {reference:.2f} ms)", ratio <= limit)


def _http_share(results: Results) -> Verdict:
    target = "HTTP, 4 concurrent ticks >= 60% of bare"
    batches = sorted({b for _, b in results.configs("http")})
    if not batches:
        return Verdict(target, "not measured", None)
    return _share(target + f" (batch {batches[0]})", results, "http", 4, batches[0], 0.6)


def _bulk(results: Results) -> Verdict:
    one, four = (
        results.figures.get("submit.http_bulk.c1"),
        results.figures.get("submit.http_bulk.c4"),
    )
    how = "POST /jobs/bulk, 1,000 per request"
    if one is None:
        one, four = results.figures.get("submit.enqueue_many.c1"), None
        how = "enqueue_many"
    target = f"bulk submission >= 20,000 jobs/s ({how})"
    if one is None:
        return Verdict(target, "not measured", None)
    best = max(one, four or 0)
    measured = f"{one:,.0f} jobs/s with 1 client" + (f", {four:,.0f} with 4" if four else "")
    return Verdict(target, measured, best >= 20_000)


def _io_ceiling(results: Results) -> Verdict:
    target = "I/O-bound drain, 4 HTTP ticks >= 8x the one-at-a-time ceiling (>= 640 jobs/s)"
    rate, times = (
        results.figures.get("io.http.w4.rate"),
        results.figures.get("io.http.w4.x_ceiling"),
    )
    if rate is None or times is None:
        return Verdict(target, "not measured", None)
    return Verdict(target, f"{times:.1f}x ({rate:,.0f} jobs/s)", times >= 8)


def _io_peer(results: Results, peer: str) -> Verdict:
    target = f"I/O-bound drain, 4 HTTP ticks ahead of {peer} at as many jobs at once"
    ratio, theirs = (
        results.figures.get(f"io.ratio_vs_{peer}"),
        results.figures.get(f"io.{peer}.rate"),
    )
    if ratio is None or theirs is None:
        return Verdict(target, "not measured", None)
    return Verdict(
        target, f"{ratio:.2f}x ({ratio * theirs:,.0f} vs {theirs:,.0f} jobs/s)", ratio > 1
    )


def _worker_paths(floor: float, issue: str) -> Callable[[Results], list[Verdict]]:
    """The in-process and HTTP worker paths at batch 10 and 100, 4 workers, >= ``floor``."""

    def judge_paths(results: Results) -> list[Verdict]:
        return [
            _share(
                f"{name} worker path, batch {batch}, 4 workers >= {floor:.0%} of bare ({issue})",
                results,
                path,
                4,
                batch,
                floor,
            )
            for path, name in (("inprocess", "in-process"), ("http", "HTTP"))
            for batch in (10, 100)
        ]

    return judge_paths


def _whole_path(results: Results) -> list[Verdict]:
    return [
        _share(
            f"whole path (submitted over HTTP, 4 HTTP ticks), batch {batch} >= 80% of bare "
            "(issue 15)",
            results,
            "whole",
            4,
            batch,
            0.8,
        )
        for batch in (10, 100)
    ]


def judge(results: Results) -> list[Verdict]:
    """Every target, in the order issues 5, 10 and 15 list them."""
    return [
        *_worker_paths(0.75, "issue 10")(results),
        *_worker_paths(1.0, "issue 15")(results),
        *_whole_path(results),
        _figure(
            results,
            "POST /jobs >= 1,500 jobs/s with 4 clients (issue 15)",
            "submit.http_one.c4",
            "{:,.0f} jobs/s".format,
            lambda v: v >= 1500,
        ),
        _share(
            "in-process worker path, batch 100, 4 workers >= 70% of bare",
            results,
            "inprocess",
            4,
            100,
            0.7,
        ),
        _share(
            "in-process worker path, batch 10, 4 workers >= 70% of bare",
            results,
            "inprocess",
            4,
            10,
            0.7,
        ),
        _http_share(results),
        _peers(results, 10),
        _peers(results, 100),
        _bulk(results),
        _figure(
            results,
            "POST /jobs >= 1,000 jobs/s with 4 clients",
            "submit.http_one.c4",
            "{:,.0f} jobs/s".format,
            lambda v: v >= 1000,
        ),
        _figure(
            results,
            "pickup latency p50 <= 100 ms",
            "latency.p50_ms",
            "{:.1f} ms".format,
            lambda v: v <= 100,
        ),
        _figure(
            results,
            "pickup latency p99 <= 500 ms",
            "latency.p99_ms",
            "{:.1f} ms".format,
            lambda v: v <= 500,
        ),
        _relative(
            results,
            "claim p50 with the large table <= 1.3x with 10k finished",
            "claim.large.p50_ms",
            "claim.small.p50_ms",
            1.3,
        ),
        _relative(
            results,
            "claim p95 with the large table <= 1.3x with 10k finished",
            "claim.large.p95_ms",
            "claim.small.p95_ms",
            1.3,
        ),
        _relative(
            results,
            "100k delayed jobs do not slow the claim (p50 <= 1.3x)",
            "claim.delayed.p50_ms",
            "claim.small.p50_ms",
            1.3,
        ),
        _figure(
            results,
            "claim plan: ix_jobs_claim, no filesort",
            "claim.plan_ok",
            lambda v: "yes" if v else "no",
            lambda v: v == 1.0,
        ),
        _figure(
            results,
            "worker tick < 150 MB RSS through the drain (in-process)",
            "memory.inprocess.peak_mb",
            "{:.0f} MB peak".format,
            lambda v: v < 150,
        ),
        _figure(
            results,
            "worker tick < 150 MB RSS through the drain (function process)",
            "memory.http.peak_mb",
            "{:.0f} MB peak".format,
            lambda v: v < 150,
        ),
        _figure(
            results,
            "function cold start <= 1.5 s (slowest function)",
            "cold_start.max_s",
            "{:.2f} s".format,
            lambda v: v <= 1.5,
        ),
        _io_ceiling(results),
        _io_peer(results, "procrastinate"),
        _io_peer(results, "rq"),
        _figure(
            results,
            "worker tick overrun with hung handlers <= 1 s (max over the ticks)",
            "io.overrun.max_s",
            "{:.3f} s".format,
            lambda v: v <= 1.0,
        ),
    ]
