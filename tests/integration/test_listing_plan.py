"""MariaDB reads every page of GET /jobs from an index in id order: never a filesort.

The statements are the ones common.queries.list_jobs sends (recorded as it runs), explained
one by one on a table of mostly finished jobs with a few hundred in the listed status.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, text

from common.maintenance import JobFilter
from common.queries import list_jobs
from common.states import Status
from tests.databases import statements_sent
from tests.factories import make_jobs
from tests.integration.test_claim_plan import table_access

S = Status


@pytest.fixture
def finished_table(mariadb_engine: Engine) -> Engine:
    make_jobs(mariadb_engine, 5000, S.SUCCESS, finished_ago=3600)
    make_jobs(mariadb_engine, 1000, S.SUCCESS, finished_ago=3600, queue="mail")
    make_jobs(mariadb_engine, 200, S.DLQ, finished_ago=60, queue="mail")
    make_jobs(mariadb_engine, 200, S.DLQ, finished_ago=60)
    make_jobs(mariadb_engine, 3000, S.SUCCESS, finished_ago=30)
    with mariadb_engine.connect() as conn:
        conn.execute(text("ANALYZE TABLE jobs")).all()
    return mariadb_engine


def page_queries(sent: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The SELECTs of jobs among the statements sent, with their parameters."""
    return [
        (statement, parameters)
        for statement, parameters in sent
        if statement.lstrip().upper().startswith("SELECT") and "jobs.id" in statement
    ]


def explain(engine: Engine, statement: str, parameters: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("EXPLAIN FORMAT=JSON " + statement, parameters)
        return dict(json.loads(cursor.fetchone()[0]))


FILTERS = {
    "status": JobFilter(status=S.DLQ),
    "status-and-queue": JobFilter(status=S.DLQ, queue="mail"),
}


def a_later_page(engine: Engine, where: JobFilter) -> int:
    """The cursor of the third page of ``where``."""
    with engine.connect() as conn:
        _, cursor = list_jobs(conn, where, limit=100)
    assert cursor is not None
    return cursor


@pytest.mark.parametrize("later", [False, True], ids=["first-page", "cursor"])
@pytest.mark.parametrize("name", sorted(FILTERS))
def test_a_listing_by_status_reads_ix_jobs_status_queue_in_order(
    finished_table: Engine, name: str, later: bool
) -> None:
    before_id = a_later_page(finished_table, FILTERS[name]) if later else None
    with statements_sent(finished_table) as all_sent, finished_table.connect() as conn:
        rows, _ = list_jobs(conn, FILTERS[name], limit=50, before_id=before_id)
    sent = page_queries(all_sent)
    assert rows and all(row["status"] == S.DLQ for row in rows)
    pages = [(sql, params) for sql, params in sent if "ORDER BY jobs.id" in sql]
    assert pages, sent
    for statement, parameters in pages:
        explained = explain(finished_table, statement, parameters)
        access = table_access(explained)
        assert "filesort" not in json.dumps(explained), explained
        assert access["key"] == "ix_jobs_status_queue", explained
        assert access["used_key_parts"][:2] == ["status", "queue"], explained
        assert access["rows"] <= 1000, explained  # the DLQ's rows, not the table's


@pytest.mark.parametrize(
    "where",
    [JobFilter(queue="mail"), JobFilter(type="noop"), JobFilter()],
    ids=["queue", "type", "none"],
)
def test_other_listings_read_the_primary_key_in_order_without_filesort(
    finished_table: Engine, where: JobFilter
) -> None:
    before_id = a_later_page(finished_table, where)
    with statements_sent(finished_table) as all_sent, finished_table.connect() as conn:
        list_jobs(conn, where, limit=50, before_id=before_id)
    sent = page_queries(all_sent)
    [(statement, parameters)] = [(s, p) for s, p in sent if "ORDER BY jobs.id" in s]
    explained = explain(finished_table, statement, parameters)
    assert "filesort" not in json.dumps(explained), explained
