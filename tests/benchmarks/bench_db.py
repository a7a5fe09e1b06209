"""The benchmark's own MariaDB database: created and migrated once, emptied and seeded fast."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pymysql
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from common.db import make_engine, migrate
from tests.benchmarks.plan import NOOP_TYPE

SEED_CHUNK = 200_000
# Seeded rows look like enqueued ones; run_at rises with id, as it does for jobs submitted in turn.
_SEED = """
INSERT INTO jobs (queue, type, payload, status, priority, run_at, attempts, max_attempts,
                  created_at, updated_at, started_at, finished_at)
SELECT 'default', %(type)s, %(payload)s, %(status)s, 0,
       {run_at} - INTERVAL (%(n)s - seq) MICROSECOND, %(attempts)s, 5,
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), {finished}, {finished}
FROM seq_1_to_{n}
"""


class BenchError(RuntimeError):
    """A benchmark check failed: the numbers of this run cannot be trusted."""


@dataclass(frozen=True)
class JobKind:
    """What seeded jobs are: their type and their payload (JSON text)."""

    type: str = NOOP_TYPE
    payload: str = "{}"


NOOP = JobKind()
SLEEP_SECONDS = 0.05
SLEEP = JobKind("sleep", json.dumps({"seconds": SLEEP_SECONDS}))  # the io section's I/O wait


def prepare(url: str) -> Engine:
    """Create the benchmark database if needed, migrate it, and return an engine on it."""
    parsed = make_url(url)
    server = create_engine(parsed.set(database=""), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{parsed.database}`"))
    server.dispose()
    migrate(url)
    return make_engine(url)


def empty(engine: Engine) -> None:
    """Remove every job and attempt: each measurement starts from an empty table."""
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE TABLE job_attempts")
        conn.exec_driver_sql("TRUNCATE TABLE jobs")


def seed(
    engine: Engine,
    count: int,
    *,
    status: str = "SCHEDULED",
    run_at: str = "UTC_TIMESTAMP(6)",
    kind: JobKind = NOOP,
) -> None:
    """Insert ``count`` jobs of ``kind`` in ``status``, due at ``run_at`` (an SQL expression).

    The optimizer's statistics are refreshed after, as they are on a long-running database.
    """
    finished = "UTC_TIMESTAMP(6)" if status == "SUCCESS" else "NULL"
    attempts = 1 if status == "SUCCESS" else 0
    left = count
    while left > 0:
        n = min(left, SEED_CHUNK)
        sql = _SEED.format(run_at=run_at, finished=finished, n=n)
        params = {
            "type": kind.type,
            "payload": kind.payload,
            "status": status,
            "n": n,
            "attempts": attempts,
        }
        with engine.begin() as conn:
            conn.exec_driver_sql(sql, params)
        left -= n
    analyze(engine)  # statistics as a long-running database has them


def retype(engine: Engine, kind: JobKind, every: int) -> int:
    """Make every ``every``-th seeded job (by id) one of ``kind``: a mix in claim order."""
    with engine.begin() as conn:
        changed = conn.exec_driver_sql(
            "UPDATE jobs SET type = %s, payload = %s WHERE id MOD %s = 0",
            (kind.type, kind.payload, every),
        ).rowcount
    analyze(engine)
    return int(changed)


def analyze(engine: Engine) -> None:
    """Refresh the optimizer's statistics, as a long-running database has them."""
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE TABLE jobs, job_attempts").all()


def settle(engine: Engine, max_seconds: float = 30.0) -> float:
    """Wait until InnoDB has purged and stopped flushing after a big seed; seconds waited.

    A fresh 1M-row insert leaves undo history and dirty pages that InnoDB works off in the
    background for a while; measuring during that would time the seed, not the table size.
    MariaDB keeps some pages dirty at rest, so "settled" is: history purged, and the dirty
    page count no longer falling.
    """
    started = time.monotonic()
    last_dirty = None
    while time.monotonic() - started < max_seconds:
        dirty, history = _innodb_backlog(engine)
        if history < 1000 and last_dirty is not None and dirty >= 0.95 * last_dirty:
            break
        last_dirty = dirty
        time.sleep(1)
    return time.monotonic() - started


def _innodb_backlog(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        status: dict[str, str] = dict(
            conn.exec_driver_sql(
                "SHOW GLOBAL STATUS WHERE Variable_name IN "
                "('Innodb_buffer_pool_pages_dirty', 'Innodb_history_list_length')"
            ).all()
        )
    return int(status["Innodb_buffer_pool_pages_dirty"]), int(status["Innodb_history_list_length"])


def job_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql("SELECT id FROM jobs ORDER BY id").scalars())


def count_by_status(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT status, COUNT(*) FROM jobs GROUP BY status").all()
    return {str(status): int(n) for status, n in rows}


def check_exactly_once(seen: Sequence[int], expected: Sequence[int]) -> None:
    """Every expected id was run exactly once, and nothing else was: else BenchError."""
    seen_set = set(seen)
    duplicates = len(seen) - len(seen_set)
    missing = set(expected) - seen_set
    extra = seen_set - set(expected)
    if duplicates or missing or extra:
        raise BenchError(
            f"drain check failed: {duplicates} run twice, {len(missing)} missing, "
            f"{len(extra)} unexpected (of {len(expected)})"
        )


def check_all_succeeded(engine: Engine, expected: int, *, attempts_table: bool) -> None:
    """The table holds ``expected`` SUCCESS jobs and, for skiplock, one attempt row each."""
    statuses = count_by_status(engine)
    if statuses != {"SUCCESS": expected}:
        raise BenchError(f"after the drain the jobs are {statuses}, expected {expected} SUCCESS")
    if not attempts_table:
        return
    with engine.connect() as conn:
        rows, jobs_with, last = conn.exec_driver_sql(
            "SELECT COUNT(*), COUNT(DISTINCT job_id), MAX(attempt) FROM job_attempts"
        ).one()
    if (rows, jobs_with, last) != (expected, expected, 1):
        raise BenchError(f"attempt rows: {rows} for {jobs_with} jobs, max attempt {last}")


def pymysql_connect(url: str) -> pymysql.connections.Connection[Any]:
    """A plain PyMySQL connection to ``url``, READ COMMITTED like skiplock's engine."""
    parsed = make_url(url)
    conn = pymysql.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
        database=parsed.database,
        autocommit=False,
    )
    with conn.cursor() as cur:
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    return conn


def server_version(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT VERSION()").scalar_one())


def server_settings(engine: Engine, names: Sequence[str]) -> dict[str, str]:
    marks = ", ".join(f"'{name}'" for name in names)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({marks})")
        return {str(k): str(v) for k, v in rows.all()}
