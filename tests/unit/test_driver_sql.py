"""common/driver_sql.py: a hot statement compiled once into the driver's SQL (MySQL/MariaDB,
PostgreSQL).

That it does what SQLAlchemy's execution does is shown on MariaDB and PostgreSQL by every
transition test (tests/integration/test_transitions.py walks each edge and checks the columns
it sets)."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, update
from sqlalchemy.dialects.mysql import pymysql
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.engine import Dialect

from common.driver_sql import DriverStatement
from common.models import jobs
from common.states import Status

DIALECT = pymysql.dialect(paramstyle="pyformat")  # as create_engine makes it
DIALECTS = pytest.mark.parametrize(
    "dialect", [DIALECT, psycopg.dialect()], ids=["pymysql", "psycopg"]
)


def guarded() -> DriverStatement:
    return DriverStatement(
        update(jobs)
        .where(
            jobs.c.id.in_(bindparam("ids", expanding=True, literal_execute=True)),
            jobs.c.status.in_([Status.RUNNING, Status.SCHEDULED]),
            jobs.c.lease_token == bindparam("fence"),
        )
        .values(status=Status.SUCCESS)
    )


@DIALECTS
def test_ids_are_rendered_inline_and_the_statements_own_values_are_parameters(
    dialect: Dialect,
) -> None:
    compiled = guarded()._compile(dialect, ("ids", "fence"))

    sql = compiled.sql([3, 1, 2])

    assert "jobs.id IN (3,1,2)" in sql
    assert "POSTCOMPILE" not in sql
    constants = {str(value) for value in compiled.constants.values()}
    assert constants == {"RUNNING", "SCHEDULED", "SUCCESS"}
    assert sql.count("%(") == len(compiled.constants) + 1  # and the caller's fence
    assert "%(fence)s" in sql  # PostgreSQL's carries a cast: %(fence)s::VARCHAR


def test_ids_must_be_integers_and_at_least_one() -> None:
    compiled = guarded()._compile(DIALECT, ("ids", "fence"))

    with pytest.raises(ValueError):
        compiled.sql([])
    with pytest.raises(ValueError):
        compiled.sql(["1) OR (1=1"])  # type: ignore[list-item]


def test_only_ids_may_expand_at_execution() -> None:
    statement = DriverStatement(
        update(jobs)
        .where(jobs.c.queue.in_(bindparam("queues", expanding=True)))
        .values(status=Status.SUCCESS)
    )

    with pytest.raises(ValueError, match="ids"):
        statement._compile(DIALECT, ("queues",))
