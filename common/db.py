"""Engines, the database clock, retried transactions and migrations, for every supported database.

Isolation: MySQL/MariaDB run at READ COMMITTED. Its default REPEATABLE READ takes gap locks on
the claim index, which makes concurrent claims and inserts deadlock; READ COMMITTED locks only
the rows a statement returns. PostgreSQL's default is already READ COMMITTED. SQLite has one
writer at a time: every transaction starts with BEGIN IMMEDIATE, which serializes claims in
place of SKIP LOCKED (which SQLite lacks; SQLAlchemy leaves the clause out there).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pymysql.converters
from sqlalchemy import ColumnElement, DateTime, Engine, create_engine, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from common.errors import SubmissionConflict

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# MySQL: 1213 deadlock, 1205 lock wait timeout, and 1305 "SAVEPOINT ... does not exist": a
# deadlock inside a savepoint rolled back the whole transaction before SQLAlchemy could roll
# back to the savepoint. PostgreSQL: serialization failure, deadlock.
_RETRYABLE_MYSQL_CODES = {1205, 1213, 1305}
_RETRYABLE_PG_STATES = {"40001", "40P01"}
# MySQL client errors meaning "no server there": can't connect, gone away, lost connection.
_UNREACHABLE_MYSQL_CODES = {2002, 2003, 2006, 2013}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` set up as described in this module's docstring."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    if url.startswith(("mysql", "mariadb")):
        kwargs.setdefault("isolation_level", "READ COMMITTED")
        if "pymysql" in url:
            kwargs.setdefault("connect_args", {}).setdefault("conv", _PYMYSQL_CONVERSIONS)
    kwargs.setdefault("pool_pre_ping", True)
    # Connection.close() already rolls back a transaction it leaves open; the pool's own
    # rollback on every checkin would only add a round trip after each commit.
    kwargs.setdefault("pool_reset_on_return", None)
    return create_engine(url, **kwargs)


def _escape_datetime(value: datetime, mapping: Any = None) -> str:
    """PyMySQL's datetime literal, made by C code: its own formats field by field in Python,
    which was a tenth of a worker's CPU (two times per attempt row)."""
    if value.tzinfo is not None:
        return pymysql.converters.escape_datetime(value, mapping)
    return f"'{value.isoformat(' ')}'"


_PYMYSQL_CONVERSIONS = {**pymysql.converters.conversions, datetime: _escape_datetime}


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    connect_args = {"timeout": 30, "check_same_thread": False}
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below decide
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class utcnow(FunctionElement[Any]):  # noqa: N801 - reads as the SQL function it renders
    """The database's current UTC time, with microseconds where the database has them."""

    type = DateTime()
    inherit_cache = True


class utc_in(FunctionElement[Any]):  # noqa: N801
    """The database's current UTC time plus ``seconds`` (negative for the past).

    ``seconds`` may also be an integer SQL expression counting microseconds, such as a bind
    parameter, for statements built once and run with different offsets.
    """

    type = DateTime()
    inherit_cache = True

    def __init__(self, seconds: float | ColumnElement[int]) -> None:
        micros = seconds if isinstance(seconds, ColumnElement) else int(seconds * 1_000_000)
        super().__init__(micros)
        self.type = DateTime()


@dataclass(frozen=True)
class ClockReading:
    """The database's clock read against a local one, to turn local moments into database
    times without asking the database each time (a tick reads it once)."""

    database: datetime
    local: float

    @classmethod
    def take(cls, bind: Bind, clock: Callable[[], float]) -> ClockReading:
        with transaction(bind) as conn:
            before = clock()
            now = conn.execute(select(utcnow())).scalar_one()
            after = clock()
        return cls(now, (before + after) / 2)

    def at(self, moment: float) -> datetime:
        """The database's time at the local clock's ``moment``."""
        return self.database + timedelta(seconds=moment - self.local)


def micros(seconds: float) -> int:
    """Seconds as the whole microseconds ``utc_in`` takes as a bind parameter."""
    return int(seconds * 1_000_000)


_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f000', 'now'{})"  # %f is SS.sss; pad to microseconds


@compiles(utcnow, "mysql")
@compiles(utcnow, "mariadb")
def _utcnow_mysql(element: utcnow, compiler: Any, **kw: Any) -> str:
    return "UTC_TIMESTAMP(6)"  # NOW(6) would follow the session's time zone


@compiles(utcnow, "postgresql")
def _utcnow_pg(element: utcnow, compiler: Any, **kw: Any) -> str:
    return "(now() AT TIME ZONE 'UTC')"


@compiles(utcnow, "sqlite")
def _utcnow_sqlite(element: utcnow, compiler: Any, **kw: Any) -> str:
    return _SQLITE_NOW.format("")


@compiles(utc_in, "mysql")
@compiles(utc_in, "mariadb")
def _utc_in_mysql(element: utc_in, compiler: Any, **kw: Any) -> str:
    return f"(UTC_TIMESTAMP(6) + INTERVAL {compiler.process(element.clauses, **kw)} MICROSECOND)"


@compiles(utc_in, "postgresql")
def _utc_in_pg(element: utc_in, compiler: Any, **kw: Any) -> str:
    micros = compiler.process(element.clauses, **kw)
    return f"((now() AT TIME ZONE 'UTC') + {micros} * INTERVAL '1 microsecond')"


@compiles(utc_in, "sqlite")
def _utc_in_sqlite(element: utc_in, compiler: Any, **kw: Any) -> str:
    micros = compiler.process(element.clauses, **kw)
    return _SQLITE_NOW.format(f", ({micros} / 1000000.0) || ' seconds'")


def is_retryable(exc: BaseException) -> bool:
    """True for a deadlock, lock timeout or busy database: the transaction may simply run again."""
    if isinstance(exc, SubmissionConflict):
        return True
    orig = getattr(exc, "orig", None)
    if orig is None:
        return False
    if getattr(orig, "sqlstate", None) in _RETRYABLE_PG_STATES:
        return True
    code = orig.args[0] if orig.args else None
    return code in _RETRYABLE_MYSQL_CODES or "database is locked" in str(orig)


def is_unreachable(exc: BaseException) -> bool:
    """True when the error means the database cannot be reached at all."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args else None
    text = str(orig).lower()
    return code in _UNREACHABLE_MYSQL_CODES or "connection" in text or "unable to open" in text


# Where a transaction runs: an engine lends a pooled connection for it; a connection held by
# the caller (a worker tick holds one for its whole budget) saves the checkout and its ping.
Bind = Engine | Connection


_AFTER_COMMIT = "skiplock.after_commit"


@contextmanager
def transaction(bind: Bind) -> Iterator[Connection]:
    """A transaction on ``bind``: committed at the end of the block, rolled back on error.

    What ``after_commit`` registered in it runs once the commit has succeeded.
    """
    callbacks: list[Callable[[], None]] = []
    with _begin(bind) as conn:
        conn.info[_AFTER_COMMIT] = callbacks
        try:
            yield conn
        finally:
            del conn.info[_AFTER_COMMIT]
    for callback in callbacks:
        callback()


@contextmanager
def _begin(bind: Bind) -> Iterator[Connection]:
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    else:
        with bind.begin():
            yield bind


def after_commit(conn: Connection, callback: Callable[[], None] | None = None) -> None:
    """Run ``callback`` after the ``transaction`` that ``conn`` is in commits (never if not).

    Without a callback, only check that there is such a transaction: code that may register
    one fails the same way whether or not it does this time.
    """
    callbacks = conn.info.get(_AFTER_COMMIT)
    if callbacks is None:
        raise RuntimeError("needs a transaction begun by common.db.transaction")
    if callback is not None:
        callbacks.append(callback)


def run_in_transaction(bind: Bind, work: Callable[[Connection], T], *, attempts: int = 8) -> T:
    """Run ``work`` in one transaction, running it again on a deadlock or lock timeout."""
    for attempt in range(1, attempts + 1):
        try:
            with transaction(bind) as conn:
                return work(conn)
        except (DBAPIError, SubmissionConflict) as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            time.sleep(random.uniform(0, 0.005 * 2**attempt))
    raise AssertionError("unreachable")


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` with alembic."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)
