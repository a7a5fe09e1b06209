"""Completion webhooks against a real HTTP receiver on 127.0.0.1, started by the test.

The delivery is a job of the engine: enqueued in the terminal transition's transaction, run by
the worker tick, retried on a 5xx, and never sent for a change that rolled back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from common.config import Settings
from common.db import transaction, utcnow
from common.enqueue import NewJob, enqueue
from common.finish import record_finished
from common.handlers.catalog import build_registry
from common.handlers.webhook import WEBHOOK_QUEUE, WEBHOOK_TYPE
from common.maintenance import cancel_jobs
from common.models import jobs
from common.retry import BackoffPolicy
from common.states import Status
from common.transitions import REF_COLUMNS, Finished, operator_cancel
from common.worker import TickOptions, work_tick
from tests.factories import db_now, job_row, make_job, make_jobs

S = Status
SECRET = "test-secret"
NO_WAIT = BackoffPolicy(base_seconds=0, max_seconds=0, jitter=0)
# A deployment with a webhook secret that may call 127.0.0.1 (the receiver): what add() uses.
HOOKS_REGISTRY = build_registry(Settings(webhook_secret=SECRET, webhook_allow_private=True))


def verify(header: str, body: bytes, secret: str, tolerance: int = 300) -> bool:
    """The receiver's check, as docs/WEBHOOKS.md shows it."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp, signature = int(parts["t"]), parts["v1"]
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature) and abs(time.time() - timestamp) <= tolerance


@dataclass
class Receiver:
    """An HTTP server answering each POST with the next of ``answers`` (then 200)."""

    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((dict(self.headers), body))
            status = state.answers.pop(0) if state.answers else 200
            answer = b"ok" if status < 300 else b"x" * 10_000  # only an excerpt is kept
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/skiplock?src=test"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def run(engine: Engine, allow_private: bool = True) -> None:
    """Worker ticks until every due job is finished (deliveries and their retries included)."""
    settings = Settings(webhook_secret=SECRET, webhook_allow_private=allow_private)
    options = TickOptions(worker_id="w", budget_seconds=20, backoff=NO_WAIT, stop_when_idle=True)
    for _ in range(30):
        work_tick(engine, build_registry(settings), options)
        with engine.connect() as conn:
            waiting = conn.execute(
                select(jobs.c.id).where(
                    jobs.c.status.in_([S.SCHEDULED, S.FAILED, S.RUNNING]), jobs.c.run_at <= utcnow()
                )
            ).first()
        if waiting is None:
            return
    raise AssertionError("jobs still waiting after 30 ticks")


def deliveries(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        query = select(jobs).where(jobs.c.type == WEBHOOK_TYPE).order_by(jobs.c.id)
        return list(conn.execute(query).mappings())


def add(engine: Engine, job: NewJob) -> int:
    with transaction(engine) as conn:
        return enqueue(conn, job, registry=HOOKS_REGISTRY).id


def test_each_terminal_job_gets_one_correctly_signed_post(
    engine: Engine, receiver: Receiver
) -> None:
    ok = add(engine, NewJob("noop", callback_url=receiver.url))
    dead = add(engine, NewJob("fail", {"message": "no"}, max_attempts=1, callback_url=receiver.url))
    cancelled = add(engine, NewJob("noop", delay_seconds=3600, callback_url=receiver.url))
    silent = add(engine, NewJob("noop"))  # no callback_url: no webhook
    cancel_jobs(engine, ids=[cancelled])
    run(engine)

    by_job = {e["job_id"]: e for e in receiver.events()}
    assert len(receiver.received) == 3 and set(by_job) == {ok, dead, cancelled}
    for headers, body in receiver.received:
        assert verify(headers["Skiplock-Signature"], body, SECRET)
        assert not verify(headers["Skiplock-Signature"], body, "another secret")
        assert headers["Content-Type"] == "application/json"
    assert by_job[ok] == {
        "job_id": ok,
        "type": "noop",
        "queue": "default",
        "status": "SUCCESS",
        "attempts": 1,
        "result": None,
        "finished_at": by_job[ok]["finished_at"],
    }
    assert job_row(engine, ok)["finished_at"].isoformat() == by_job[ok]["finished_at"][:-1]
    assert (by_job[dead]["status"], by_job[dead]["last_error"]) == ("DLQ", "JobError: no")
    assert by_job[cancelled]["status"] == "CANCELLED"
    assert silent not in by_job
    assert [(d["queue"], d["status"]) for d in deliveries(engine)] == [
        (WEBHOOK_QUEUE, S.SUCCESS)
    ] * 3
    assert all(d["result"]["status"] == 200 for d in deliveries(engine))


def test_a_receiver_failing_twice_gets_the_same_event_three_times_and_the_delivery_succeeds(
    engine: Engine, receiver: Receiver
) -> None:
    receiver.answers = [500, 500, 200]
    add(engine, NewJob("noop", callback_url=receiver.url))
    run(engine)

    bodies = [body for _, body in receiver.received]
    assert len(bodies) == 3 and len(set(bodies)) == 1
    (delivery,) = deliveries(engine)
    assert (delivery["status"], delivery["attempts"]) == (S.SUCCESS, 3)
    assert delivery["result"] == {"status": 200, "excerpt": "ok"}


def test_a_receiver_that_keeps_failing_dead_letters_the_delivery_with_an_excerpt(
    engine: Engine, receiver: Receiver
) -> None:
    receiver.answers = [503] * 20
    add(engine, NewJob("noop", callback_url=receiver.url))
    run(engine)
    (delivery,) = deliveries(engine)
    assert (delivery["status"], delivery["attempts"]) == (S.DLQ, delivery["max_attempts"])
    assert "answered 503" in delivery["last_error"] and len(delivery["last_error"]) < 400


def test_a_transition_or_a_job_rolled_back_sends_nothing(
    engine: Engine, receiver: Receiver
) -> None:
    job_id = add(engine, NewJob("noop", delay_seconds=3600, callback_url=receiver.url))
    with pytest.raises(RuntimeError), transaction(engine) as conn:
        rows = conn.execute(select(*REF_COLUMNS).where(jobs.c.id == job_id).with_for_update()).all()
        operator_cancel(conn, rows)
        raise RuntimeError("the caller's business transaction fails")
    with pytest.raises(RuntimeError), transaction(engine) as conn:
        enqueue(conn, NewJob("noop", callback_url=receiver.url), registry=HOOKS_REGISTRY)
        raise RuntimeError("rolled back with its job")
    run(engine)

    assert deliveries(engine) == []
    assert receiver.received == []
    assert job_row(engine, job_id)["status"] == S.CREATED


def test_at_delivery_a_private_address_is_refused_without_the_allow_setting(
    engine: Engine, receiver: Receiver
) -> None:
    add(engine, NewJob("noop", callback_url=receiver.url))
    run(engine, allow_private=False)

    (delivery,) = deliveries(engine)
    assert delivery["status"] == S.DLQ and delivery["attempts"] == 1  # permanent: not retried
    assert (
        "127.0.0.1" in delivery["last_error"] and "WEBHOOK_ALLOW_PRIVATE" in delivery["last_error"]
    )
    assert receiver.received == []


def test_a_redirect_is_not_followed(engine: Engine, receiver: Receiver) -> None:
    receiver.answers = [302]
    add(engine, NewJob("noop", callback_url=receiver.url))
    run(engine)
    (delivery,) = deliveries(engine)
    assert delivery["status"] == S.DLQ and "answered 302" in delivery["last_error"]
    assert len(receiver.received) == 1


def statements_of_finishing(engine: Engine, job_ids: list[int]) -> list[str]:
    """The SQL that recording these RUNNING jobs' success sends."""
    from common.claim import claim

    sent: list[str] = []
    claimed = claim(engine, worker_id="w", limit=len(job_ids), lease_seconds=60)
    assert sorted(job.id for job in claimed) == sorted(job_ids)

    def listen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    now = db_now(engine)
    done = [Finished(job, started_at=now, ended_at=now) for job in claimed]
    event.listen(engine, "before_cursor_execute", listen)
    try:
        with transaction(engine) as conn:
            record_finished(conn, done, NO_WAIT)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return sent


def test_a_batch_without_callbacks_costs_no_extra_statement(engine: Engine) -> None:
    plain = statements_of_finishing(engine, make_jobs(engine, 10))
    assert len([s for s in plain if not s.startswith(("BEGIN", "COMMIT"))]) == 2  # attempts, jobs
    assert not any("callback_url" in s for s in plain)

    hooked = [*make_jobs(engine, 9), make_job(engine, callback_url="http://example.com/h")]
    with_one = statements_of_finishing(engine, hooked)
    assert len(with_one) == len(plain) + 2  # the event's read, and the delivery's insert
