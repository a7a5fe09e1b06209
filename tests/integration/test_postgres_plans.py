"""PostgreSQL reads the claim's candidates and the job listings from an index in order: no
Sort node (which would read and lock every candidate before the LIMIT), no scan of the table.

The table is like a production one: many finished jobs, a few hundred waiting or dead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, Executable, Select, select, text

from common.claim import claim_query, queue_claim_query
from common.db import make_engine
from common.maintenance import JobFilter
from common.models import jobs
from common.queries import (
    _JOBS_AND_SLOTS,
    PUBLIC_COLUMNS,
    QUEUES_OF_STATUS,
    queue_pages,
    queues_of_status,
)
from common.states import Status
from tests.databases import empty_tables, selected_backends

pytestmark = pytest.mark.skipif(
    "postgresql" not in selected_backends(), reason="PostgreSQL not selected"
)
FINISHED = 50_000

_SEED = """
INSERT INTO jobs (queue, type, payload, status, priority, run_at, attempts, max_attempts,
                  created_at, updated_at, finished_at)
SELECT :queue, 'noop', '{}', :status, 0, now() AT TIME ZONE 'UTC' - interval '1 hour', 1, 5,
       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC',
       CASE WHEN :finished THEN now() AT TIME ZONE 'UTC' END
FROM generate_series(1, :count)
"""


@pytest.fixture(scope="module")
def busy_postgres(database_urls: dict[str, str]) -> Iterator[Engine]:
    engine = make_engine(database_urls["postgresql"])
    empty_tables(engine)
    with engine.begin() as conn:
        for queue, status, count in (
            ("default", Status.SUCCESS, FINISHED),
            ("mail", Status.SUCCESS, FINISHED // 5),
            ("default", Status.DLQ, 300),
            ("mail", Status.DLQ, 100),
            ("default", Status.SCHEDULED, 200),
            ("mail", Status.SCHEDULED, 100),
        ):
            finished = status in (Status.SUCCESS, Status.DLQ)
            conn.execute(
                text(_SEED),
                {"queue": queue, "status": status.value, "count": count, "finished": finished},
            )
        conn.execute(text("ANALYZE jobs"))
    yield engine
    empty_tables(engine)
    engine.dispose()


def plan(
    engine: Engine, query: Executable, *, analyze: bool = False, **params: Any
) -> dict[str, Any]:
    """PostgreSQL's EXPLAIN (FORMAT JSON) of ``query`` with ``params`` as literals; with
    ``analyze``, as run (plain EXPLAIN leaves out a recursive term's subplans)."""
    with engine.connect() as conn:
        sql = query.params(**params).compile(  # type: ignore[attr-defined]
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}
        )
        options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
        raw = conn.exec_driver_sql(f"EXPLAIN ({options}) " + str(sql).replace("%", "%%"))
        return dict(raw.scalar_one()[0]["Plan"])


def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def jobs_access(explained: dict[str, Any]) -> dict[str, Any]:
    """The plan's (only) read of the jobs table."""
    [access] = [n for n in nodes(explained) if n.get("Relation Name") == "jobs"]
    return access


def assert_index_read_in_order(explained: dict[str, Any], index: str) -> None:
    kinds = [n["Node Type"] for n in nodes(explained)]
    assert "Sort" not in kinds and "Incremental Sort" not in kinds, json.dumps(explained)
    access = jobs_access(explained)
    assert access["Node Type"] in {"Index Scan", "Index Only Scan"}, json.dumps(explained)
    assert access["Index Name"] == index, json.dumps(explained)


def test_the_claim_reads_ix_jobs_claim_in_order(busy_postgres: Engine) -> None:
    explained = plan(busy_postgres, claim_query(), limit=10)
    assert_index_read_in_order(explained, "ix_jobs_claim")


def test_a_claim_excluding_ids_reads_ix_jobs_claim_in_order(busy_postgres: Engine) -> None:
    explained = plan(busy_postgres, claim_query(excluding=True), limit=10, excluded=[1, 2])
    assert_index_read_in_order(explained, "ix_jobs_claim")


@pytest.mark.parametrize("skip_keys", [False, True], ids=["any-key", "past-saturated-keys"])
def test_a_claim_of_one_queue_reads_ix_jobs_queue_claim_in_order(
    busy_postgres: Engine, skip_keys: bool
) -> None:
    params: dict[str, Any] = {"limit": 10, "queue": "mail", "excluded": [1]}
    if skip_keys:
        params["saturated"] = ["acme"]
    query = queue_claim_query(excluding=True, skip_keys=skip_keys)
    assert_index_read_in_order(plan(busy_postgres, query, **params), "ix_jobs_queue_claim")


def listing(where: JobFilter, before_id: int | None) -> Select[Any]:
    """The page query common.queries sends for ``where`` (newest first, 50 and one more)."""
    query = select(*PUBLIC_COLUMNS).select_from(_JOBS_AND_SLOTS).where(where.clause())
    if before_id is not None:
        query = query.where(jobs.c.id < before_id)
    return query.order_by(jobs.c.id.desc()).limit(51)


@pytest.mark.parametrize("before_id", [None, FINISHED // 2], ids=["first-page", "cursor"])
def test_a_listing_by_status_and_queue_reads_only_its_range_of_ix_jobs_status_queue(
    busy_postgres: Engine, before_id: int | None
) -> None:
    where = JobFilter(status=Status.DLQ, queue="mail")
    assert_reads_its_status_and_queue(jobs_access(plan(busy_postgres, listing(where, before_id))))


def test_the_queues_of_a_status_are_found_by_probes_of_ix_jobs_status_queue(
    busy_postgres: Engine,
) -> None:
    with busy_postgres.connect() as conn:
        assert queues_of_status(conn, Status.DLQ) == ["default", "mail"]
        assert queues_of_status(conn, Status.RUNNING) == []
    explained = plan(busy_postgres, QUEUES_OF_STATUS, analyze=True, status=Status.DLQ.value)
    reads = [n for n in nodes(explained) if n.get("Relation Name") == "jobs"]
    assert len(reads) == 2, json.dumps(explained)  # the first queue, then the next each time
    for read in reads:
        assert read["Node Type"] in {"Index Scan", "Index Only Scan"}, json.dumps(explained)
        assert read["Index Name"] == "ix_jobs_status_queue", json.dumps(explained)


@pytest.mark.parametrize("before_id", [None, FINISHED // 2], ids=["first-page", "cursor"])
def test_a_listing_by_status_alone_reads_each_queues_range_of_ix_jobs_status_queue(
    busy_postgres: Engine, before_id: int | None
) -> None:
    """A status alone: its queues' pages of ids (common.queries.queue_pages), each from the
    index alone; the page's rows then come by primary key."""
    where = JobFilter(status=Status.DLQ)
    statement, params = queue_pages(where, ["default", "mail"], 51, before_id)
    explained = plan(busy_postgres, statement, **params)
    reads = [n for n in nodes(explained) if n.get("Relation Name") == "jobs"]
    assert len(reads) == 2, json.dumps(explained)
    for read in reads:
        assert_reads_its_status_and_queue(read)


def assert_reads_its_status_and_queue(access: dict[str, Any]) -> None:
    # PostgreSQL may sort the few rows the index range gives (it estimates them); what
    # matters is that it reads only that range, not the table or its primary key.
    assert access["Node Type"] in {"Index Scan", "Index Only Scan"}, access
    assert access["Index Name"] == "ix_jobs_status_queue", access
    assert "queue" in access["Index Cond"] and "status" in access["Index Cond"], access
