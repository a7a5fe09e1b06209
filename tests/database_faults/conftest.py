"""Fixtures of the database fault tests: a MariaDB server of their own, a database on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from common.db import make_engine, migrate
from tests.database_faults.fault_jobs import executions_metadata
from tests.database_faults.own_mariadb import OwnMariaDB
from tests.databases import empty_tables


@pytest.fixture(scope="session")
def own_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnMariaDB]:
    """A mariadbd of these tests only, started once per session and stopped at its end."""
    if not OwnMariaDB.available():
        message = "mariadb-install-db and mariadbd are needed for the database fault tests"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run them)")
        pytest.skip(message)
    server = OwnMariaDB(Path(tmp_path_factory.mktemp("own-mariadb")))
    server.install()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def own_database(own_mariadb: OwnMariaDB) -> Iterator[str]:
    """A migrated database on the tests' own server, with the executions table; its name
    (one per test module, which empties its tables where it needs)."""
    if not own_mariadb.ping():  # a test that failed halfway may have left it down
        own_mariadb.start()
    name = f"faults_{uuid.uuid4().hex[:8]}"
    own_mariadb.run(f"CREATE DATABASE {name}")
    migrate(own_mariadb.url(name))
    engine = make_engine(own_mariadb.url(name))
    executions_metadata.create_all(engine)
    engine.dispose()
    try:
        yield name
    finally:
        if not own_mariadb.ping():
            own_mariadb.start()
        own_mariadb.run("SET GLOBAL read_only = OFF", f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def direct(own_mariadb: OwnMariaDB, own_database: str) -> Iterator[Engine]:
    """The test's own engine on the tests' own server, past the stack (and any proxy), on
    emptied tables."""
    engine = make_engine(own_mariadb.url(own_database))
    empty_tables(engine)
    yield engine
    engine.dispose()


def stack_env(url: str, executions_url: str, **extra: str) -> dict[str, str]:
    """The settings of a stack for these tests: their job types, short leases and backoff."""
    return {
        "DATABASE_URL": url,
        "EXECUTIONS_URL": executions_url,
        "JOB_MODULES": "tests.database_faults.fault_jobs",
        "LEASE_SECONDS": "2",
        "BACKOFF_BASE_SECONDS": "0.1",
        "BACKOFF_MAX_SECONDS": "0.5",
        "BACKOFF_JITTER": "0",
        "WORKER_POLL_SECONDS": "0.05",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
