"""Two-connection lock tests on MariaDB: an operation of the engine paused before its commit,
while the test looks at what it holds and tries what others would do meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event, text

from common.db import make_engine


@dataclass
class Paused:
    """The operation's transaction, stopped before the commit of its first locking read."""

    thread_id: int = 0
    result: Any = None
    error: BaseException | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)


def rows_locked(engine: Engine, thread_id: int) -> int:
    """How many rows the connection ``thread_id``'s open transaction has locked, by InnoDB's own
    count: a row once per index it is locked in. INNODB_TRX is refreshed at most every 0.1 s."""
    time.sleep(0.25)
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT trx_rows_locked FROM information_schema.INNODB_TRX"
                    " WHERE trx_mysql_thread_id = :thread"
                ),
                {"thread": thread_id},
            ).scalar_one()
        )


@contextmanager
def paused_before_commit(url: str, operation: Callable[[Engine], Any]) -> Iterator[Paused]:
    """Run ``operation`` on an engine of its own in a thread; its first transaction that took
    row locks waits before committing until the block ends (then the operation goes on)."""
    engine = make_engine(url)
    paused = Paused()

    @event.listens_for(engine, "after_cursor_execute")
    def _note_locks(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FOR UPDATE" in statement or statement.lstrip().upper().startswith("UPDATE"):
            conn.info["locked"] = True

    @event.listens_for(engine, "commit")
    def _wait(conn: Any) -> None:
        if conn.info.pop("locked", False) and not paused.reached.is_set():
            paused.thread_id = conn.connection.dbapi_connection.thread_id()
            paused.reached.set()
            paused.resume.wait(timeout=60)

    def run() -> None:
        try:
            paused.result = operation(engine)
        except BaseException as exc:  # handed to the test
            paused.error = exc

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert paused.reached.wait(timeout=30), "the operation took no row lock"
        yield paused
    finally:
        paused.resume.set()
        thread.join(timeout=60)
        engine.dispose()
    if paused.error is not None:
        raise paused.error


def impatient(url: str) -> Engine:
    """An engine whose lock waits give up after 1 s (InnoDB's default is 50 s)."""
    return make_engine(url, connect_args={"init_command": "SET innodb_lock_wait_timeout = 1"})
