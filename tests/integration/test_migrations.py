"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Engine, Index, Integer, MetaData

from common.models import metadata


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
