"""Enqueueing in the caller's transaction: bulk, idempotent, and gone if the caller rolls back."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, func, select

from common.enqueue import Enqueued, NewJob, enqueue, enqueue_many
from common.errors import ValidationError
from common.models import jobs
from common.states import Status
from tests.databases import selected_backends, statements_sent
from tests.factories import count_rows, db_now, job_row

S = Status
SERVERS = [name for name in selected_backends() if name != "sqlite"]
CLOCK_GRAIN = timedelta(milliseconds=1)


def test_an_enqueued_job_is_created_with_its_fields_and_the_database_clock(engine: Engine) -> None:
    before = db_now(engine)
    with engine.begin() as conn:
        added = enqueue(
            conn,
            NewJob(type="sleep", payload={"seconds": 1}, queue="docs", priority=3, max_attempts=2),
        )
    row = job_row(engine, added.id)
    assert added.created
    assert (row["status"], row["type"], row["payload"], row["queue"]) == (
        S.CREATED,
        "sleep",
        {"seconds": 1},
        "docs",
    )
    assert (row["priority"], row["attempts"], row["max_attempts"]) == (3, 0, 2)
    assert before - CLOCK_GRAIN <= row["run_at"] == row["created_at"] <= db_now(engine)


def test_a_delayed_job_runs_that_many_seconds_after_the_database_now(engine: Engine) -> None:
    with engine.begin() as conn:
        added = enqueue(conn, NewJob(type="noop", delay_seconds=90))
    row = job_row(engine, added.id)
    assert row["run_at"] == row["created_at"] + timedelta(seconds=90)


def test_run_at_in_any_time_zone_is_stored_as_utc(engine: Engine) -> None:
    paris_noon = datetime(2031, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as conn:
        added = enqueue(conn, NewJob(type="noop", run_at=paris_noon))
    assert job_row(engine, added.id)["run_at"] == datetime(2031, 6, 1, 10, 0)


def test_an_invalid_job_is_refused_before_anything_is_written(engine: Engine) -> None:
    with pytest.raises(ValidationError) as raised, engine.begin() as conn:
        enqueue(conn, NewJob(type="noop", max_attempts=0))
    assert raised.value.field == "max_attempts"
    assert count_rows(engine) == 0


def test_a_job_enqueued_in_a_rolled_back_transaction_does_not_exist(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin() as transaction:
        enqueue(conn, NewJob(type="noop"))
        enqueue(conn, NewJob(type="noop", idempotency_key="order-1"))
        enqueue_many(conn, [NewJob(type="noop"), NewJob(type="noop")])
        assert conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 4
        transaction.rollback()
    assert count_rows(engine) == 0
    with engine.begin() as conn:
        assert enqueue(conn, NewJob(type="noop", idempotency_key="order-1")).created


def test_a_job_is_enqueued_only_when_the_callers_own_work_commits(engine: Engine) -> None:
    class BusinessError(Exception):
        pass

    with pytest.raises(BusinessError), engine.begin() as conn:
        enqueue(
            conn,
            NewJob(type="email", payload={"to": "a@example.com", "subject": "Hi", "text": "."}),
        )
        raise BusinessError
    assert count_rows(engine) == 0


def test_bulk_enqueue_returns_the_ids_in_the_order_given(engine: Engine) -> None:
    new_jobs = [NewJob(type="sleep", payload={"seconds": n}, priority=-n) for n in range(25)]
    with engine.begin() as conn:
        ids = enqueue_many(conn, new_jobs)
    assert len(set(ids)) == 25
    assert [job_row(engine, job_id)["payload"] for job_id in ids] == [
        {"seconds": n} for n in range(25)
    ]
    assert [job_row(engine, job_id)["priority"] for job_id in ids] == [-n for n in range(25)]


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_bulk_enqueue_inserts_in_one_round_trip_on_a_database_server(engine: Engine) -> None:
    # SQLite is left out: SQLAlchemy cannot trust the order of its multi-row RETURNING and
    # sends the rows one by one there, which costs no round trip to an in-process database.
    new_jobs = [NewJob(type="noop", payload={"n": n}) for n in range(50)]
    with engine.begin() as conn, statements_sent(engine) as sent:
        enqueue_many(conn, new_jobs)
    assert len([s for s, _ in sent if s.lstrip().upper().startswith("INSERT")]) == 1
    assert count_rows(engine) == 50


def test_bulk_enqueue_mixes_plain_jobs_and_idempotent_ones_in_order(engine: Engine) -> None:
    with engine.begin() as conn:
        existing = enqueue(conn, NewJob(type="noop", idempotency_key="k1")).id
        ids = enqueue_many(
            conn,
            [
                NewJob(type="fail"),
                NewJob(type="noop", idempotency_key="k1"),
                NewJob(type="sleep", payload={"seconds": 0}),
                NewJob(type="noop", idempotency_key="k2"),
                NewJob(type="noop", idempotency_key="k2"),
            ],
        )
    assert ids[1] == existing
    assert ids[3] == ids[4]
    assert [job_row(engine, ids[0])["type"], job_row(engine, ids[2])["type"]] == ["fail", "sleep"]
    assert count_rows(engine) == 4


def test_bulk_enqueue_names_the_index_of_an_invalid_job_and_writes_none(engine: Engine) -> None:
    with pytest.raises(ValidationError) as raised, engine.begin() as conn:
        enqueue_many(conn, [NewJob(type="noop"), NewJob(type="noop", priority=1.5)])  # type: ignore[arg-type]
    assert raised.value.field == "jobs[1].priority"
    assert count_rows(engine) == 0


def test_the_same_idempotency_key_returns_the_same_job(engine: Engine) -> None:
    with engine.begin() as conn:
        first = enqueue(conn, NewJob(type="noop", idempotency_key="invoice-42"))
    with engine.begin() as conn:
        again = enqueue(
            conn, NewJob(type="noop", payload={"other": 1}, idempotency_key="invoice-42")
        )
    assert first == Enqueued(first.id, created=True)
    assert again == Enqueued(first.id, created=False)
    assert job_row(engine, first.id)["payload"] == {}
    assert count_rows(engine) == 1


def test_a_known_key_leaves_the_callers_transaction_usable(engine: Engine) -> None:
    with engine.begin() as conn:
        enqueue(conn, NewJob(type="noop", idempotency_key="k"))
        assert not enqueue(conn, NewJob(type="noop", idempotency_key="k")).created
        assert enqueue(conn, NewJob(type="noop")).created
    assert count_rows(engine) == 2


def test_idempotency_keys_are_per_queue(engine: Engine) -> None:
    with engine.begin() as conn:
        mail = enqueue(conn, NewJob(type="noop", queue="mail", idempotency_key="k"))
        pdf = enqueue(conn, NewJob(type="noop", queue="pdf", idempotency_key="k"))
    assert mail.id != pdf.id and mail.created and pdf.created


def test_connections_racing_with_the_same_key_make_one_job(engine: Engine) -> None:
    racers = 6
    start = threading.Barrier(racers)
    results: list[Enqueued] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            start.wait(timeout=10)
            with engine.begin() as conn:
                results.append(enqueue(conn, NewJob(type="noop", idempotency_key="race")))
                # Hold the transaction open so the others' inserts meet an uncommitted row.
                threading.Event().wait(0.2)
        except BaseException as exc:  # collected, then re-raised by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len({r.id for r in results}) == 1
    assert sorted(r.created for r in results) == [False] * (racers - 1) + [True]
    assert count_rows(engine, jobs) == 1
