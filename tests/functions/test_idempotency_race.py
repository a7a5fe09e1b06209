"""Two POST /jobs racing with one idempotency key make one job: one answer 201, the other 200.

On MariaDB, where the second INSERT waits on the first one's unique-key lock; two function
instances (two functions-framework apps), each in its own thread, post at the same moment.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, func, select

from common.models import jobs
from tests.functions.client import Configure, FunctionClient, make_function_app

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
