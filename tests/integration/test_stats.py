"""common/stats.py: the overview's numbers, on every backend."""

from __future__ import annotations

from itertools import pairwise

import pytest
from sqlalchemy import Engine

from common import stats
from common.maintenance import JobFilter
from common.queries import list_jobs, newer_jobs
from common.states import Status
from tests.factories import make_jobs

S = Status


def overview(engine: Engine) -> dict[str, stats.QueueStats]:
    with engine.connect() as conn:
        return {q.queue: q for q in stats.overview(conn)}


def test_the_overview_counts_by_queue_and_status_and_the_last_hour(engine: Engine) -> None:
    make_jobs(engine, 3, S.SUCCESS, queue="a")
    make_jobs(engine, 1, S.SUCCESS, queue="a", finished_ago=7200)  # not in the last hour
    make_jobs(engine, 2, S.DLQ, queue="a")
    make_jobs(engine, 4, S.SCHEDULED, queue="b", run_in=-30)
    make_jobs(engine, 1, S.CREATED, queue="b", run_in=3600)  # not due

    queues = overview(engine)

    a, b = queues["a"], queues["b"]
    assert (a.by_status["SUCCESS"], a.by_status["DLQ"], a.at_least) == (4, 2, [])
    assert (a.succeeded_last_hour, a.dead_lettered_last_hour) == (3, 2)
    assert a.oldest_due_age_seconds is None
    assert (b.by_status["SCHEDULED"], b.by_status["CREATED"]) == (4, 1)
    assert b.oldest_due_age_seconds is not None and 25 < b.oldest_due_age_seconds < 120


def test_finished_jobs_are_counted_up_to_the_cap(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats, "COUNT_CAP", 3)
    make_jobs(engine, 5, S.SUCCESS, queue="big")
    make_jobs(engine, 5, S.SCHEDULED, queue="big")  # unfinished: always exact

    big = overview(engine)["big"]

    assert (big.by_status["SUCCESS"], big.at_least) == (3, ["SUCCESS"])
    assert big.by_status["SCHEDULED"] == 5


def test_the_throughput_has_a_row_for_each_of_the_last_minutes(engine: Engine) -> None:
    with engine.connect() as conn:
        minutes = stats.throughput(conn, minutes=10)
    assert len(minutes) == 10 and all(m.succeeded == m.failed == 0 for m in minutes)
    assert {(b.start - a.start).total_seconds() for a, b in pairwise(minutes)} == {60}


def test_a_status_listed_across_queues_pages_newest_first(engine: Engine) -> None:
    # On MariaDB each queue's page is read from ix_jobs_status_queue and merged.
    ids = [make_jobs(engine, 1, S.DLQ, queue=f"q{n % 3}")[0] for n in range(7)]
    make_jobs(engine, 2, S.SUCCESS, queue="q0")
    where = JobFilter(status=S.DLQ)
    with engine.connect() as conn:
        first, before = list_jobs(conn, where, limit=4)
        second, end = list_jobs(conn, where, limit=4, before_id=before)
        back, more = newer_jobs(conn, where, limit=4, after_id=second[0]["id"])
    newest = sorted(ids, reverse=True)
    assert [j["id"] for j in first] == newest[:4] and before == newest[3]
    assert [j["id"] for j in second] == newest[4:] and end is None
    assert [j["id"] for j in back] == newest[:4] and more is False
