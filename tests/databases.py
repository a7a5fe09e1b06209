"""Throwaway databases for tests: a fresh, migrated database per backend and test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, text

from common.db import migrate
from common.models import metadata

MARIADB_SERVER = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
POSTGRES_SERVER = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "mariadb", "postgresql")


def selected_backends() -> list[str]:
    """Backends to test: all, or those named in SKIPLOCK_TEST_BACKENDS (comma-separated)."""
    chosen = os.environ.get("SKIPLOCK_TEST_BACKENDS", ",".join(BACKENDS))
    return [name.strip() for name in chosen.split(",") if name.strip()]


@contextmanager
def fresh_database(backend: str, tmp_dir: Path, revision: str = "head") -> Iterator[str]:
    """Create an empty database on ``backend``, migrate it to ``revision``, yield its URL, then
    drop it."""
    name = f"skiplock_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite:///{tmp_dir / (name + '.db')}"
        migrate(url, revision)
        yield url
        return
    server = MARIADB_SERVER if backend == "mariadb" else POSTGRES_SERVER
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url, revision)
        yield url
    finally:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def empty_tables(engine: Engine) -> None:
    """Delete every row of every table of the models, children first."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))


@contextmanager
def statements_sent(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement ``engine`` sends while the block runs, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
