"""Hostile clients of the real local stack (gunicorn on MariaDB): bodies over the limit and
refused bodies on a kept-alive connection, slow bodies, broken JSON over the wire, concurrent
duplicate idempotency keys, and tokens kept out of the logs."""

from __future__ import annotations

import json
import select as io_select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from common.db import make_engine
from common.models import jobs
from tests.e2e.stack import LocalStack, stack_on_empty_mariadb

SCHEDULER_TOKEN = "e2e-scheduler-token-31415"
BODY_SECONDS = 2.0
ENV = {
    "SCHEDULER_TOKEN": SCHEDULER_TOKEN,
    "REQUEST_BODY_SECONDS": str(BODY_SECONDS),
    "LOG_FORMAT": "json",
    "WORKER_BUDGET_SECONDS": "0.5",
    "SCHEDULE_BUDGET_SECONDS": "0.5",
}
LIMIT = 256 * 1024  # MAX_PAYLOAD_BYTES's default
JOB = {"type": "noop"}


@pytest.fixture(scope="module")
def mariadb_url(database_urls: dict[str, str]) -> str:
    return database_urls["mariadb"]


@pytest.fixture(scope="module")
def stack(mariadb_url: str) -> Iterator[LocalStack]:
    with stack_on_empty_mariadb(mariadb_url, ENV, args=("--no-cron",)) as stack:
        yield stack


@pytest.fixture
def session(stack: LocalStack) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {stack.token}"
        yield session


def padded_job(size: int) -> bytes:
    return json.dumps({"type": "noop", "payload": {"pad": "x" * size}}).encode()


def assert_next_request_works(stack: LocalStack, session: requests.Session) -> None:
    answer = session.post(stack.base_url + "/jobs", json=JOB, timeout=30)
    assert answer.status_code == 201, answer.text


def test_a_body_over_the_limit_is_a_413_that_closes_and_the_next_request_works(
    stack: LocalStack, session: requests.Session
) -> None:
    refused = session.post(
        stack.base_url + "/jobs",
        data=padded_job(300 * 1024),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert refused.headers["Connection"] == "close"
    assert_next_request_works(stack, session)


def test_a_chunked_body_over_the_limit_is_a_413_and_the_next_request_works(
    stack: LocalStack, session: requests.Session
) -> None:
    body = padded_job(300 * 1024)
    chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))

    refused = session.post(
        stack.base_url + "/jobs",
        data=chunks,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert refused.status_code == 413
    assert_next_request_works(stack, session)


@pytest.mark.parametrize(
    ("method", "path", "authorization", "status"),
    [
        ("POST", "/jobs", "Bearer wrong", 401),
        ("POST", "/nowhere", None, 404),
        ("DELETE", "/jobs", None, 405),
        ("POST", "/jobs/1", None, 405),
        ("POST", "/queues/bad name!/pause", None, 400),
        ("POST", "/jobs/update", None, 400),  # read, refused: an update needs an action
        ("POST", "/dashboard/actions", None, 401),
    ],
)
def test_a_body_refused_unread_under_the_limit_does_not_break_the_connection(
    stack: LocalStack,
    session: requests.Session,
    method: str,
    path: str,
    authorization: str | None,
    status: int,
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization

    refused = session.request(
        method, stack.base_url + path, data=padded_job(200 * 1024), headers=headers, timeout=30
    )

    assert refused.status_code == status, refused.text
    assert refused.headers["Content-Type"] == "application/json"
    assert_next_request_works(stack, session)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"type": "\\ud800"}', "type"),
        (b'{"type": "noop", "payload": {"s": "x\\ud800"}}', "payload.s"),
        (b"[" * 10_000 + b"]" * 10_000, "body"),
        (b'{"type": "noop", "payload": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", "body"),
        (b'{"type": "noop", "payload": {"x": NaN}}', "payload.x"),
        (b'{"type": "noop\xff"}', "body"),
    ],
)
def test_broken_json_over_the_wire_is_a_400_naming_the_problem(
    stack: LocalStack, session: requests.Session, raw: bytes, field: str
) -> None:
    answer = session.post(
        stack.base_url + "/jobs",
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field
    assert_next_request_works(stack, session)


def answered(sock: socket.socket, wait: float) -> bool:
    return bool(io_select.select([sock], [], [], wait)[0])


def slow_body(stack: LocalStack, seconds: float, answers: list[bytes]) -> None:
    """POST /jobs declaring 60 bytes and sending one a second, for at most ``seconds``."""
    host, port = stack.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=seconds + 10) as sock:
        sock.sendall(
            b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + stack.token.encode() + b"\r\nContent-Length: 60\r\n\r\n"
        )
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline and not answered(sock, wait=1):
                sock.sendall(b" ")
        except OSError:
            pass  # the server gave up on us, as it should
        answers.append(read_answer(sock))


def read_answer(sock: socket.socket) -> bytes:
    """What the server answered, up to the end of its JSON body (or its closing)."""
    answer = b""
    sock.settimeout(10)
    try:
        while not answer.endswith(b"}\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass
    return answer


def test_a_body_sent_a_byte_a_second_is_a_408_after_request_body_seconds(
    stack: LocalStack,
) -> None:
    answers: list[bytes] = []
    started = time.monotonic()

    slow_body(stack, seconds=20, answers=answers)

    assert answers[0].startswith(b"HTTP/1.1 408"), answers
    assert b'"request_timeout"' in answers[0]
    assert time.monotonic() - started < BODY_SECONDS + 8


def test_slow_clients_on_every_thread_do_not_stop_the_server_answering(
    stack: LocalStack, session: requests.Session
) -> None:
    """40 slow bodies: more than the stack's 4 workers x 8 threads."""
    answers: list[bytes] = []
    slow = [
        threading.Thread(target=slow_body, args=(stack, 30, answers), daemon=True)
        for _ in range(40)
    ]
    for thread in slow:
        thread.start()
    time.sleep(1)
    started = time.monotonic()

    answer = session.get(stack.base_url + "/jobs?limit=1", timeout=60)

    assert answer.status_code == 200
    assert time.monotonic() - started < 15  # without a deadline: ~30 s, as long as the clients
    for thread in slow:
        thread.join(timeout=60)
    assert len(answers) == 40 and all(a.startswith(b"HTTP/1.1 408") for a in answers)


def test_concurrent_duplicate_idempotency_keys_store_one_job(
    stack: LocalStack, mariadb_url: str
) -> None:
    key = f"dup-{time.time_ns()}"

    def submit(_: int) -> tuple[int, Any]:
        answer = requests.post(
            stack.base_url + "/jobs",
            json={"type": "noop", "idempotency_key": key},
            headers={"Authorization": f"Bearer {stack.token}"},
            timeout=30,
        )
        return answer.status_code, answer.json()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(submit, range(32)))

    assert {status for status, _ in answers} <= {200, 201, 409}, answers
    assert [status for status, _ in answers].count(201) <= 1
    ids = {body["id"] for status, body in answers if status in (200, 201)}
    assert len(ids) == 1
    engine = make_engine(mariadb_url)
    with engine.connect() as conn:
        stored = conn.scalar(select(func.count()).where(jobs.c.idempotency_key == key))
    engine.dispose()
    assert stored == 1


def test_tokens_never_reach_the_logs_error_bodies_or_headers(mariadb_url: str) -> None:
    with stack_on_empty_mariadb(mariadb_url, ENV, args=("--no-cron",)) as stack:
        secrets = [stack.token, SCHEDULER_TOKEN, "a-wrong-token-27182"]
        seen = []
        for authorization in [
            f"Bearer {stack.token}",
            f"Bearer {SCHEDULER_TOKEN}",
            f"Bearer {secrets[2]}",
            f"Basic {stack.token}",
            f"Bearer {stack.token}junk",
        ]:
            for method, path in [("GET", "/jobs"), ("POST", "/ticks/work"), ("GET", "/nowhere")]:
                answer = requests.request(
                    method,
                    stack.base_url + path,
                    headers={"Authorization": authorization},
                    json={"budget_seconds": 0.1} if method == "POST" else None,
                    timeout=30,
                )
                seen.append(answer.text + json.dumps(dict(answer.headers)))
        login = requests.post(
            stack.base_url + "/dashboard/login", data={"token": secrets[2]}, timeout=30
        )
        seen.append(login.text + json.dumps(dict(login.headers)))
        output = stack.stop()

    assert '"severity"' in output, output[-2000:]  # JSON logs
    assert "/ticks/work" in output  # the requests were logged
    for secret in secrets:
        assert secret not in output
        assert all(secret not in text for text in seen)
