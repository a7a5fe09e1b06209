"""A claim locks only the rows it returns: a claim of one queue leaves every other queue's jobs
free for a concurrent claim, on MariaDB (READ COMMITTED keeps the locks of rows a locking read
rejects by a condition its index does not hold)."""

from __future__ import annotations

import time

from sqlalchemy import Engine, text

from common.claim import claim, claim_in
from common.db import transaction
from common.models import jobs
from common.states import Status
from tests.factories import make_jobs

S = Status


def rows_locked(conn: object) -> int:
    """How many rows the connection's open transaction has locked, by InnoDB's own count: a
    row once per index it is locked in. INNODB_TRX is refreshed at most every 0.1 s."""
    time.sleep(0.25)
    return int(
        conn.execute(  # type: ignore[attr-defined]
            text(
                "SELECT trx_rows_locked FROM information_schema.INNODB_TRX"
                " WHERE trx_mysql_thread_id = CONNECTION_ID()"
            )
        ).scalar_one()
    )


def test_a_claim_of_one_queue_leaves_the_other_queues_jobs_to_others(
    mariadb_engine: Engine,
) -> None:
    make_jobs(mariadb_engine, 20, queue="c", priority=10)  # first in the global claim order
    make_jobs(mariadb_engine, 20, queue="a")
    with transaction(mariadb_engine) as first:
        held = claim_in(first, worker_id="w1", limit=5, lease_seconds=60, queues=["a"])
        assert [job.queue for job in held] == ["a"] * 5
        assert rows_locked(first) <= 2 * 5  # its 5 rows, in the claim index and the table

        other = claim(mariadb_engine, worker_id="w2", limit=5, lease_seconds=60, queues=["c"])
        assert [job.queue for job in other] == ["c"] * 5


def test_the_old_single_query_claim_with_a_queue_filter_locked_the_other_queue(
    mariadb_engine: Engine,
) -> None:
    """What the test above guards against, shown on the query the claim used before."""
    from common.claim import claim_query

    make_jobs(mariadb_engine, 20, queue="c", priority=10)
    make_jobs(mariadb_engine, 20, queue="a")
    with mariadb_engine.connect() as first, first.begin():
        old_claim = claim_query().where(jobs.c.queue.in_(["a"]))  # the filter in one query
        rows = first.execute(old_claim, {"limit": 5}).all()
        assert len(rows) == 5
        assert rows_locked(first) >= 2 * (20 + 5)  # every c job it read past, and its own
