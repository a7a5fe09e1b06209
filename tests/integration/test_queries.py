"""Reading jobs: one job with its history, and filtered listings a page at a time."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from common.claim import claim
from common.errors import NotFound
from common.maintenance import JobFilter
from common.queries import attempt_history, get_job, list_jobs, newer_jobs
from common.retry import BackoffPolicy
from common.schedule import promote_due
from common.states import Status
from common.transitions import Finished
from tests.factories import finish_one, make_due, make_job, make_jobs

S = Status


def test_a_job_is_shown_without_its_lease_token_or_worker(engine: Engine) -> None:
    job_id = make_job(engine, S.RUNNING, type="pdf")
    with engine.connect() as conn:
        job = get_job(conn, job_id)
    assert (job["id"], job["type"], job["status"]) == (job_id, "pdf", S.RUNNING)
    assert "lease_token" not in job and "locked_by" not in job


def test_an_unknown_job_id_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound) as raised, engine.connect() as conn:
        get_job(conn, 987654)
    assert raised.value.field == "id"


def test_the_attempt_history_lists_every_attempt_oldest_first(engine: Engine) -> None:
    job_id = make_job(engine, type="fail")
    backoff = BackoffPolicy(base_seconds=0, max_seconds=0, jitter=0)
    [first] = claim(engine, worker_id="w1", limit=1, lease_seconds=60)
    finish_one(engine, Finished(first, error="boom"), backoff)
    make_due(engine, job_id)
    promote_due(engine, S.FAILED)
    [second] = claim(engine, worker_id="w2", limit=1, lease_seconds=60)
    finish_one(engine, Finished(second, result="ok"), backoff)
    with engine.connect() as conn:
        history = attempt_history(conn, job_id)
    assert [(a["attempt"], a["worker_id"], a["outcome"], a["error"]) for a in history] == [
        (1, "w1", "error", "boom"),
        (2, "w2", "success", None),
    ]


def test_a_listing_pages_through_the_matching_jobs_newest_first(engine: Engine) -> None:
    mail = make_jobs(engine, 5, S.DLQ, queue="mail")
    make_jobs(engine, 2, S.DLQ, queue="pdf")
    make_job(engine, S.SUCCESS, queue="mail")
    where = JobFilter(status=S.DLQ, queue="mail")
    with engine.connect() as conn:
        first, before = list_jobs(conn, where, limit=2)
        second, before_last = list_jobs(conn, where, limit=2, before_id=before)
        last, after_last = list_jobs(conn, where, limit=2, before_id=before_last)
    assert [[job["id"] for job in page] for page in (first, second, last)] == [
        mail[4:2:-1],
        mail[2:0:-1],
        mail[:1],
    ]
    assert after_last is None


def test_a_status_listing_merges_its_queues_pages_in_id_order_both_ways(engine: Engine) -> None:
    # A status alone is read queue by queue and merged (common/queries.py), its queues found
    # by a loose scan on MySQL/MariaDB and by a walk from queue to queue elsewhere.
    dlq = []
    for round_ in range(4):
        for queue in ("a", "b", "c"):
            dlq += make_jobs(engine, round_ + 1, S.DLQ, queue=queue)
        make_job(engine, S.SUCCESS, queue="a")
    where = JobFilter(status=S.DLQ)
    pages, before = [], None
    with engine.connect() as conn:
        while True:
            page, before = list_jobs(conn, where, limit=4, before_id=before)
            pages.append([job["id"] for job in page])
            if before is None:
                break
        back, more = newer_jobs(conn, where, limit=4, after_id=pages[2][0])

    assert [i for page in pages for i in page] == sorted(dlq, reverse=True)
    assert all(len(page) == 4 for page in pages[:-1])
    assert [job["id"] for job in back] == pages[1]
    assert more is True


@pytest.mark.parametrize("queue", [None, "x"], ids=["merged", "one-queue"])
def test_listings_of_one_shape_each_get_their_own_values(engine: Engine, queue: str | None) -> None:
    # A listing's statement is built once per shape and reused with other values bound.
    made = {
        (status, job_type, in_queue): make_jobs(engine, 5, status, type=job_type, queue=in_queue)
        for status in (S.DLQ, S.SUCCESS)
        for job_type in ("pdf", "mail")
        for in_queue in ("x", "y")
    }
    for status in (S.DLQ, S.SUCCESS):
        for job_type in ("pdf", "mail"):
            where = JobFilter(status=status, type=job_type, queue=queue)
            with engine.connect() as conn:
                first, before = list_jobs(conn, where, limit=4)
                assert before is not None  # a second page, read with its cursor
                rest, _ = list_jobs(conn, where, limit=10, before_id=before)
            expected = [
                job_id
                for (made_status, made_type, in_queue), ids in made.items()
                if (made_status, made_type) == (status, job_type) and queue in (None, in_queue)
                for job_id in ids
            ]
            listed = [job["id"] for job in first + rest]
            assert listed == sorted(expected, reverse=True), (status, job_type, queue)
