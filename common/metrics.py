"""Prometheus metrics, read from the database at scrape time (common/stats.py).

The numbers are the same whichever instance answers, and the engine writes nothing for them.
The counters count the rows the database still holds: pruning (RETENTION_SECONDS) deletes a
finished job with its attempts, so ``skiplock_job_attempts_total`` and
``skiplock_leases_expired_total`` drop when old jobs go, which Prometheus reads as a counter
reset; ``rate()`` and ``increase()`` over windows shorter than the retention stay right.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from common import stats
from common.states import Outcome, Status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class DatabaseCollector(Collector):
    """Every skiplock metric, from one read-only transaction per scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        with self.engine.connect() as conn:
            counts = stats.counts(conn)
            oldest = stats.oldest_due(conn, stats.db_now(conn))
            attempts = stats.attempt_totals(conn)
            waits = stats.queue_waits(conn)
        yield _jobs(counts)
        yield _oldest(oldest, {queue for queue, _, _ in counts})
        yield from _attempts(attempts)
        yield _waits(waits)


def _jobs(counts: list[tuple[str, str, int]]) -> Metric:
    family = GaugeMetricFamily(
        "skiplock_jobs", "Jobs in the table, by queue and status.", labels=["queue", "status"]
    )
    by_queue: dict[str, dict[str, int]] = {}
    for queue, status, count in counts:
        by_queue.setdefault(queue, {})[status] = count
    for queue in sorted(by_queue):
        for status in Status:  # every status of a known queue, 0 included, for alert rules
            family.add_metric([queue, status.value], by_queue[queue].get(status.value, 0))
    return family


def _oldest(oldest: dict[str, float], queues: set[str]) -> Metric:
    family = GaugeMetricFamily(
        "skiplock_oldest_due_job_age_seconds",
        "How long the queue's longest-waiting due job has been due (0: none waits).",
        labels=["queue"],
    )
    for queue in sorted(queues | set(oldest)):
        family.add_metric([queue], oldest.get(queue, 0.0))
    return family


def _attempts(attempts: list[stats.AttemptTotals]) -> Iterator[Metric]:
    total = CounterMetricFamily(
        "skiplock_job_attempts",
        "Recorded attempts by queue, type and outcome (pruned jobs take theirs along).",
        labels=["queue", "type", "outcome"],
    )
    expired = CounterMetricFamily(
        "skiplock_leases_expired",
        "Started attempts whose lease expired (their worker stopped), by queue.",
        labels=["queue"],
    )
    durations = HistogramMetricFamily(
        "skiplock_job_duration_seconds",
        "How long attempts ran, from their start to their end, by queue and type.",
        labels=["queue", "type"],
    )
    expired_by_queue: dict[str, int] = {}
    by_kind: dict[tuple[str, str], list[stats.Histogram]] = {}
    for row in attempts:
        total.add_metric([row.queue, row.type, row.outcome], row.attempts)
        expired_by_queue.setdefault(row.queue, 0)
        if row.outcome == Outcome.LEASE_EXPIRED:
            expired_by_queue[row.queue] += row.attempts
        by_kind.setdefault((row.queue, row.type), []).append(row.durations)
    for queue in sorted(expired_by_queue):
        expired.add_metric([queue], expired_by_queue[queue])
    for (queue, job_type), parts in sorted(by_kind.items()):
        buckets, total_sum = _merged(parts)
        durations.add_metric([queue, job_type], buckets, total_sum)
    yield total
    yield expired
    yield durations


def _waits(waits: dict[str, stats.Histogram]) -> Metric:
    family = HistogramMetricFamily(
        "skiplock_job_queue_wait_seconds",
        "How long jobs waited from due to the start of their latest attempt, by queue.",
        labels=["queue"],
    )
    for queue in sorted(waits):
        buckets, total_sum = _merged([waits[queue]])
        family.add_metric([queue], buckets, total_sum)
    return family


def _merged(parts: list[stats.Histogram]) -> tuple[list[tuple[str, float]], float]:
    """The buckets of histograms with the same bounds, added up, ending with +Inf."""
    bounds = parts[0].bounds
    cumulative = [sum(p.cumulative[i] for p in parts) for i in range(len(bounds))]
    buckets = [(_le(b), float(c)) for b, c in zip(bounds, cumulative, strict=True)]
    buckets.append(("+Inf", float(sum(p.count for p in parts))))
    return buckets, sum(p.sum for p in parts)


def _le(bound: float) -> str:
    return repr(float(bound))


def exposition(engine: Engine) -> bytes:
    """The metrics in Prometheus' text format, read from the database now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine))
    return generate_latest(registry)
