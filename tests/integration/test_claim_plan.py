"""MariaDB reads the claim's candidates from ix_jobs_claim in order: no sort, no full scan.

A plan that sorts makes the first worker lock every candidate row before its LIMIT
applies, and SKIP LOCKED then leaves the other workers nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, Select, text

from common.claim import claim_query, queue_claim_query
from common.queries import STATUS_QUEUES
from common.states import Status
from tests.factories import count_rows, make_jobs

S = Status


def plan(engine: Engine, query: Select[Any], limit: int) -> dict[str, Any]:
    """MariaDB's EXPLAIN FORMAT=JSON of ``query``, sent with the parameters claim() binds."""
    with engine.connect() as conn:
        sql = query.params(limit=limit).compile(
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}
        )
        raw = conn.exec_driver_sql("EXPLAIN FORMAT=JSON " + str(sql).replace("%", "%%"))
        return dict(json.loads(raw.scalar_one()))


def table_access(node: Any) -> dict[str, Any]:
    """The plan's access to the jobs table, wherever it sits (under a filesort, if any)."""
    if isinstance(node, dict):
        if node.get("table_name") == "jobs":
            return node
        children = list(node.values())
    elif isinstance(node, list):
        children = node
    else:
        children = []
    for child in children:
        try:
            return table_access(child)
        except LookupError:
            pass
    raise LookupError("no access to the jobs table in this plan")


def test_the_claim_reads_ix_jobs_claim_without_filesort_or_full_scan(busy_table: Engine) -> None:
    explained = plan(busy_table, claim_query(), limit=10)
    access = table_access(explained)

    assert "filesort" not in json.dumps(explained), explained
    assert access["key"] == "ix_jobs_claim"
    assert access["used_key_parts"][0] == "status"
    assert access["access_type"] in {"ref", "range"}  # "ALL" or "index" would read every row
    assert access["rows"] <= count_rows(busy_table) // 10


def test_even_on_a_small_table_the_claim_keeps_to_its_index(mariadb_engine: Engine) -> None:
    # Left to itself MariaDB reads a handful of rows through ix_jobs_due and sorts them, locking
    # all of them; claim_query forces ix_jobs_claim for that reason.
    make_jobs(mariadb_engine, 5, S.SCHEDULED)
    with mariadb_engine.connect() as conn:
        conn.execute(text("ANALYZE TABLE jobs")).all()
    explained = plan(mariadb_engine, claim_query(), limit=2)
    assert "filesort" not in json.dumps(explained), explained
    assert table_access(explained)["key"] == "ix_jobs_claim"


@pytest.mark.parametrize("skip_keys", [False, True], ids=["any-key", "past-saturated-keys"])
def test_a_claim_of_one_queue_reads_that_queue_in_ix_jobs_queue_claim(
    busy_table: Engine, skip_keys: bool
) -> None:
    query = queue_claim_query(excluding=True, skip_keys=skip_keys)
    params: dict[str, Any] = {"queue": "default", "excluded": [1, 2]}
    if skip_keys:
        params["saturated"] = ["acme"]
    explained = plan(busy_table, query.params(**params), limit=10)
    access = table_access(explained)

    assert "filesort" not in json.dumps(explained), explained
    assert access["key"] == "ix_jobs_queue_claim"
    assert access["used_key_parts"][:2] == ["status", "queue"]
    assert access["access_type"] in {"ref", "range"}
    assert access["rows"] <= count_rows(busy_table) // 5  # an estimate: it varies with stats


def test_listing_the_queues_with_scheduled_jobs_skips_through_the_index(busy_table: Engine) -> None:
    explained = plan(busy_table, STATUS_QUEUES, limit=0)
    access = table_access(explained)
    assert access["key"] in {"ix_jobs_queue_claim", "ix_jobs_status_queue"}  # (status, queue...)
    assert access.get("using_index_for_group_by"), explained  # a loose scan: a jump per queue
    assert "filesort" not in json.dumps(explained), explained
