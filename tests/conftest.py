"""Fixtures shared by every tier: real databases, one fresh schema per backend and session.

MariaDB and PostgreSQL are the machine's own servers. When one cannot be reached the tests
that need it are skipped locally, but fail in CI (CI=true): they must run there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from common import logs
from common.db import make_engine
from common.start_rule import durations
from common.states import Status
from tests.databases import empty_tables, fresh_database, selected_backends
from tests.factories import make_jobs


class _LazyDatabases(dict[str, str]):
    """backend -> URL of its test database, created and migrated on first use."""

    def __init__(self, stack: ExitStack, tmp_dir: Path) -> None:
        super().__init__()
        self.stack, self.tmp_dir = stack, tmp_dir

    def __missing__(self, backend: str) -> str:
        try:
            url = self.stack.enter_context(fresh_database(backend, self.tmp_dir))
        except Exception as exc:  # the server is down or unreachable
            message = f"{backend} unavailable: {exc}"
            if os.environ.get("CI"):
                pytest.fail(message + " (CI must run these tests, not skip them)")
            pytest.skip(message)
        self[backend] = url
        return url


@pytest.fixture(autouse=True)
def fresh_durations() -> None:
    """Each test's worker ticks start from what the job types declare, not from what the
    process's earlier tests taught the start rule."""
    durations.forget()


@pytest.fixture(autouse=True)
def no_log_listener() -> Iterator[None]:
    """A test that served a function (which configures logging) leaves no listener behind."""
    yield
    logs.reset()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Migrated databases, one per backend, created when first needed, dropped at the end."""
    with ExitStack() as stack:
        yield _LazyDatabases(stack, tmp_path_factory.mktemp("databases"))


@pytest.fixture(params=selected_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, database_urls: dict[str, str]) -> str:
    return database_urls[backend]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on an empty, migrated database of the test's backend."""
    engine = make_engine(db_url)
    empty_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def mariadb_engine(database_urls: dict[str, str]) -> Iterator[Engine]:
    """An engine on an empty, migrated MariaDB database, for tests only MariaDB can show."""
    engine = make_engine(database_urls["mariadb"])
    empty_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def busy_table(mariadb_engine: Engine) -> Engine:
    """A table like a production one: mostly finished jobs, a few waiting or running."""
    make_jobs(mariadb_engine, 3000, Status.SUCCESS, finished_ago=3600)
    make_jobs(mariadb_engine, 200, Status.DLQ, finished_ago=3600)
    make_jobs(mariadb_engine, 300, Status.CANCELLED, finished_ago=3600)
    make_jobs(mariadb_engine, 40, Status.SCHEDULED, priority=1)
    make_jobs(mariadb_engine, 40, Status.SCHEDULED, run_in=-600)
    make_jobs(mariadb_engine, 20, Status.SCHEDULED, run_in=600)
    make_jobs(mariadb_engine, 20, Status.RUNNING)
    make_jobs(mariadb_engine, 50, Status.CREATED, run_in=600)
    with mariadb_engine.connect() as conn:
        conn.execute(text("ANALYZE TABLE jobs, job_attempts")).all()
    return mariadb_engine


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent.name == "e2e":
            item.add_marker(pytest.mark.e2e)
