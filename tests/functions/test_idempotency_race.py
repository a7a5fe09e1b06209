"""Two POST /jobs racing with one idempotency key make one job: one answer 201, the other 200.

On MariaDB, where the second INSERT waits on the first one's unique-key lock; two function
instances (two functions-framework apps), each in its own thread, post at the same moment.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, func, select

from common.enqueue import NewJob, enqueue
from common.models import jobs
from tests.functions.client import Configure, FunctionClient, make_function_app
from tests.integration.test_submission_deadlocks import wait_for_lock_waits

ROUNDS = 10


def post_together(clients: list[FunctionClient], key: str) -> list[tuple[int, int]]:
    """Each client posts the same job at once; their (status, job id) answers."""
    start = threading.Barrier(len(clients))

    def post(client: FunctionClient) -> tuple[int, int]:
        start.wait()
        response = client.post("/jobs", json={"type": "noop", "idempotency_key": key})
        return response.status_code, response.get_json()["id"]

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(post, clients))


def test_two_racing_posts_with_one_idempotency_key_make_one_job_answered_201_then_200(
    mariadb_engine: Engine, database_urls: dict[str, str], configure: Configure
) -> None:
    configure(DATABASE_URL=database_urls["mariadb"])
    instances = [FunctionClient(make_function_app("submit_job")) for _ in range(2)]
    assert instances[0].post("/jobs", json={"type": "noop"}).status_code == 201  # warm up

    for round_ in range(ROUNDS):
        answers = post_together(instances, key=f"race-{round_}")

        assert sorted(status for status, _ in answers) == [200, 201], answers
        assert answers[0][1] == answers[1][1], answers

    with mariadb_engine.connect() as conn:
        per_key = conn.execute(
            select(jobs.c.idempotency_key, func.count())
            .where(jobs.c.idempotency_key.is_not(None))
            .group_by(jobs.c.idempotency_key)
        ).all()
    assert sorted(per_key) == sorted((f"race-{n}", 1) for n in range(ROUNDS))


def test_posts_waiting_on_a_key_whose_holder_rolls_back_both_succeed(
    mariadb_engine: Engine, database_urls: dict[str, str], configure: Configure
) -> None:
    # InnoDB deadlocks the two waiters when the holder rolls back and kills one's whole
    # transaction: the function runs it again instead of answering 500.
    configure(DATABASE_URL=database_urls["mariadb"], BUILTIN_JOB_TYPES="true")
    instances = [FunctionClient(make_function_app("submit_job")) for _ in range(2)]
    assert instances[0].post("/jobs", json={"type": "noop"}).status_code == 201  # warm up
    holder = mariadb_engine.connect()
    holder.begin()
    enqueue(holder, NewJob(type="noop", idempotency_key="held"))

    def post(client: FunctionClient) -> tuple[int, int]:
        response = client.post("/jobs", json={"type": "noop", "idempotency_key": "held"})
        return response.status_code, response.get_json().get("id")

    with ThreadPoolExecutor(2) as pool:
        answers = [pool.submit(post, client) for client in instances]
        try:
            wait_for_lock_waits(mariadb_engine, 2)
        finally:
            holder.rollback()
            holder.close()
        results = [answer.result(timeout=30) for answer in answers]

    assert sorted(status for status, _ in results) == [200, 201], results
    assert results[0][1] == results[1][1]


def test_bulk_posts_of_the_same_keys_in_opposite_orders_both_succeed(
    mariadb_engine: Engine, database_urls: dict[str, str], configure: Configure
) -> None:
    configure(DATABASE_URL=database_urls["mariadb"], BUILTIN_JOB_TYPES="true")
    instances = [FunctionClient(make_function_app("submit_job")) for _ in range(2)]
    keys = [f"crossed-{n}" for n in range(300)]
    start = threading.Barrier(2)

    def post(client: FunctionClient, order: list[str]) -> tuple[int, Any]:
        start.wait()
        body = {"jobs": [{"type": "noop", "idempotency_key": key} for key in order]}
        response = client.post("/jobs/bulk", json=body)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(2) as pool:
        forward = pool.submit(post, instances[0], keys)
        backward = pool.submit(post, instances[1], keys[::-1])
        (status_f, body_f), (status_b, body_b) = forward.result(), backward.result()

    assert (status_f, status_b) == (201, 201), (body_f, body_b)
    assert body_f["ids"] == body_b["ids"][::-1]
