"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Engine, Index, Integer, MetaData, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from common.db import make_engine, migrate
from common.models import jobs, metadata
from tests.databases import fresh_database


def differences(engine: Engine, target: MetaData) -> list[Any]:
    """What alembic's autogenerate would change to turn the migrated database into ``target``.

    Nothing is filtered out: on all three backends the comparison of types, nullability,
    indexes (with priority DESC) and unique constraints comes back empty as it is.
    """
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), target))


def test_the_migrated_schema_matches_the_models(engine: Engine) -> None:
    assert differences(engine, metadata) == []


def test_the_comparison_notices_a_column_and_an_index_the_migrations_lack(engine: Engine) -> None:
    drifted = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    jobs = drifted.tables["jobs"]
    jobs.append_column(Column("tenant", Integer))
    Index("ix_jobs_tenant", jobs.c.tenant)

    found = differences(engine, drifted)

    assert sorted(diff[0] for diff in found) == ["add_column", "add_index"]


def _job(status: str, finished: bool, **columns: Any) -> dict[str, Any]:
    now = datetime(2026, 11, 30, 12, 0, 0)
    return {
        "queue": "default",
        "type": "noop",
        "payload": {},
        "status": status,
        "priority": 0,
        "run_at": now,
        "attempts": 0,
        "max_attempts": 5,
        "created_at": now,
        "updated_at": now + timedelta(minutes=1),
        "finished_at": now + timedelta(minutes=2) if finished else None,
        **columns,
    }


def test_0002_upgrades_a_database_in_place_then_keeps_finished_at_true_to_the_status(
    backend: str, tmp_path: Path
) -> None:
    with fresh_database(backend, tmp_path, revision="0001") as url:
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                stmt = insert(jobs).returning(jobs.c.id, sort_by_parameter_order=True)
                rows = [
                    _job("SUCCESS", finished=False),  # breaks the new rule: gets updated_at
                    _job("CREATED", finished=True),  # breaks it the other way: cleared
                    _job("DLQ", finished=True),
                    _job("SCHEDULED", finished=False),
                ]
                ids = list(conn.execute(stmt, rows).scalars())

            migrate(url)

            with engine.connect() as conn:
                finished = dict(
                    conn.execute(
                        select(jobs.c.id, jobs.c.finished_at).where(jobs.c.id.in_(ids))
                    ).all()
                )
            assert [finished[i] for i in ids] == [
                rows[0]["updated_at"],
                None,
                rows[2]["finished_at"],
                None,
            ]
            for status, is_finished in [("SUCCESS", False), ("CANCELLED", False), ("FAILED", True)]:
                # MariaDB reports a failed CHECK as an OperationalError (4025)
                with pytest.raises((IntegrityError, OperationalError)), engine.begin() as conn:
                    conn.execute(insert(jobs).values(_job(status, finished=is_finished)))
            assert differences(engine, metadata) == []
        finally:
            engine.dispose()


def test_the_claim_index_keeps_priority_descending_after_every_migration_on_sqlite(
    tmp_path: Path,
) -> None:
    # SQLite rebuilds the table to add a constraint (MariaDB and PostgreSQL alter it in place).
    with fresh_database("sqlite", tmp_path) as url:
        engine = make_engine(url)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("PRAGMA index_xinfo('ix_jobs_claim')").mappings().all()
        engine.dispose()
    descending = {row["name"]: row["desc"] for row in rows if row["key"]}
    assert descending == {"status": 0, "priority": 1, "run_at": 0, "id": 0}


def test_the_finished_at_check_has_the_name_the_models_give_it(engine: Engine) -> None:
    from sqlalchemy import inspect

    names = {c["name"] for c in inspect(engine).get_check_constraints("jobs")}
    assert "ck_jobs_finished_iff_terminal" in names
