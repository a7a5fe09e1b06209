"""Which database errors mean "the database cannot serve now" (a 503), told apart in one place:
common.db.availability_error."""

from __future__ import annotations

import sqlite3

import pymysql
import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from common.db import availability_error
from common.errors import DatabaseReadOnly, DatabaseUnavailable


def mysql_error(code: int, message: str) -> DBAPIError:
    return OperationalError("INSERT ...", {}, pymysql.err.OperationalError(code, message))


class PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (mysql_error(2003, "Can't connect to MySQL server"), DatabaseUnavailable),
        (
            mysql_error(2013, "Lost connection to MySQL server during query (timed out)"),
            DatabaseUnavailable,
        ),
        (
            mysql_error(1290, "The MariaDB server is running with the --read-only option"),
            DatabaseReadOnly,
        ),
        (
            mysql_error(1142, "INSERT command denied to user 'app'@'%' for table `jobs`"),
            DatabaseReadOnly,
        ),
        (mysql_error(1114, "The table 'jobs' is full"), DatabaseReadOnly),
        (
            mysql_error(1021, "Disk full (/var/lib/mysql); waiting for someone to free space"),
            DatabaseReadOnly,
        ),
        (DBAPIError("INSERT ...", {}, PgError("25006")), DatabaseReadOnly),
        (DBAPIError("INSERT ...", {}, PgError("53100")), DatabaseReadOnly),
        (
            DBAPIError(
                "INSERT ...", {}, sqlite3.OperationalError("attempt to write a readonly database")
            ),
            DatabaseReadOnly,
        ),
        (
            DBAPIError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full")),
            DatabaseReadOnly,
        ),
    ],
    ids=lambda value: getattr(value, "code", None) or str(getattr(value, "orig", value))[:40],
)
def test_a_database_that_cannot_serve_is_a_503(error: DBAPIError, expected: type) -> None:
    found = availability_error(error)

    assert isinstance(found, expected)
    assert found.status == 503


@pytest.mark.parametrize(
    "error",
    [
        mysql_error(1062, "Duplicate entry 'k' for key 'uq_jobs_idempotency_key'"),
        mysql_error(1213, "Deadlock found when trying to get lock"),
        DBAPIError("SELECT ...", {}, PgError("23505")),
        ValueError("not a database error"),
    ],
)
def test_other_errors_are_not_called_unavailable(error: Exception) -> None:
    assert availability_error(error) is None
