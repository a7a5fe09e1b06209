"""Engines, the database clock, retried transactions and migrations, for every supported database.

Isolation: MySQL/MariaDB run at READ COMMITTED. Its default REPEATABLE READ takes gap locks on
the claim index, which makes concurrent claims and inserts deadlock; READ COMMITTED locks only
the rows a statement returns. PostgreSQL's default is already READ COMMITTED. SQLite has one
writer at a time: every transaction starts with BEGIN IMMEDIATE, which serializes claims in
place of SKIP LOCKED (which SQLite lacks; SQLAlchemy leaves the clause out there).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pymysql.converters
from sqlalchemy import ColumnElement, DateTime, Engine, Select, create_engine, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from common.errors import DatabaseReadOnly, DatabaseUnavailable, SkiplockError, SubmissionConflict

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# MySQL: 1213 deadlock, 1205 lock wait timeout, and 1305 "SAVEPOINT ... does not exist": a
# deadlock inside a savepoint rolled back the whole transaction before SQLAlchemy could roll
# back to the savepoint. PostgreSQL: serialization failure, deadlock.
_RETRYABLE_MYSQL_CODES = {1205, 1213, 1305}
_RETRYABLE_PG_STATES = {"40001", "40P01"}
log = logging.getLogger("skiplock.db")
# Transactions run again by this process, by the error that made them (a deadlock, a lock wait
# timeout): none of these reach a caller, and the stress tests read how many happened.
RETRIED: Counter[str] = Counter()
# MySQL client errors meaning "no server there": can't connect, gone away, lost connection.
_UNREACHABLE_MYSQL_CODES = {2002, 2003, 2006, 2013}
# Errors meaning "the server is there but takes no writes": MySQL/MariaDB read_only (1290,
# 1836), a read-only transaction (1792), no grant for the statement (1142, 1044), disk or table
# full (1021, 1114); PostgreSQL's read-only transaction, insufficient privilege, disk full.
_REFUSES_WRITES_MYSQL_CODES = {1021, 1044, 1114, 1142, 1290, 1792, 1836}
_REFUSES_WRITES_PG_STATES = {"25006", "42501", "53100"}
_REFUSES_WRITES_SQLITE_TEXTS = ("readonly database", "database or disk is full")


@dataclass(frozen=True)
class Timeouts:
    """How long opening a connection, and one read or write on it, may take, in seconds.

    Past them the database counts as unreachable (an HTTP 503) instead of holding the caller:
    a server that stops answering without closing its connections (a network cut, a frozen
    host) would otherwise hold a request until the operating system gives up, minutes later.
    The read bound also cuts a statement that waits longer on a lock, so it is set above the
    lock waits skiplock expects. PostgreSQL takes the connect bound only (libpq has no read
    timeout); SQLite neither.
    """

    connect_seconds: float = 5.0
    read_seconds: float = 30.0


def make_engine(url: str, timeouts: Timeouts | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` set up as described in this module's docstring, its connections
    bounded by ``timeouts`` (default: ``Timeouts()``)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    bounds = timeouts or Timeouts()
    connect_args = kwargs.setdefault("connect_args", {})
    if url.startswith(("mysql", "mariadb")):
        kwargs.setdefault("isolation_level", "READ COMMITTED")
        if "pymysql" in url:
            connect_args.setdefault("conv", _PYMYSQL_CONVERSIONS)
            connect_args.setdefault("connect_timeout", bounds.connect_seconds)
            connect_args.setdefault("read_timeout", bounds.read_seconds)
            connect_args.setdefault("write_timeout", bounds.read_seconds)
    elif url.startswith("postgresql"):
        connect_args.setdefault("connect_timeout", max(1, math.ceil(bounds.connect_seconds)))
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


def force_index(query: Select[Any], index: str) -> Select[Any]:
    """``query`` made to read the jobs table through ``index`` on MySQL/MariaDB.

    A locking read must read an index that holds every one of its conditions: InnoDB keeps
    the lock of each row it reads and rejects, until commit. Left to itself, MariaDB picks
    by its estimates, which on a small or skewed table name another index.
    """
    from common.models import jobs  # models import this module

    for dialect in ("mysql", "mariadb"):
        query = query.with_hint(jobs, f"FORCE INDEX ({index})", dialect)
    return query


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


def refuses_writes(exc: BaseException) -> bool:
    """True when the database is there but takes no writes: read-only, full, or no grant."""
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _REFUSES_WRITES_PG_STATES:
        return True
    code = orig.args[0] if orig.args else None
    text = str(orig).lower()
    sqlite_full_or_read_only = any(t in text for t in _REFUSES_WRITES_SQLITE_TEXTS)
    return code in _REFUSES_WRITES_MYSQL_CODES or sqlite_full_or_read_only


def availability_error(exc: BaseException) -> SkiplockError | None:
    """The 503 for a database error that says the database cannot serve now (unreachable, or
    refusing writes), None for any other error: the one place that tells them apart."""
    if is_unreachable(exc):
        return DatabaseUnavailable()
    if refuses_writes(exc):
        return DatabaseReadOnly()
    return None


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
            # A lost connection is invalidated: its info cannot be reached until the rollback,
            # and asking would hide the error that says the database went away.
            if not conn.invalidated:
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
            _note_retry(exc, attempt, attempts)
            time.sleep(random.uniform(0, 0.005 * 2**attempt))
    raise AssertionError("unreachable")


def _note_retry(exc: DBAPIError | SubmissionConflict, attempt: int, attempts: int) -> None:
    orig = getattr(exc, "orig", None)
    code = orig.args[0] if orig is not None and orig.args else type(exc).__name__
    if not isinstance(code, int):  # PostgreSQL's SQLSTATE; SQLite's message
        code = getattr(orig, "sqlstate", None) or code
    RETRIED[str(code)] += 1
    log.info(
        "transaction ran into %s, running it again (attempt %d of %d)", code, attempt + 1, attempts
    )


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` with alembic."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)
