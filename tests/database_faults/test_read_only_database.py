"""A database that takes no writes: MariaDB's read_only=ON (for a user without SUPER or
READ_ONLY ADMIN, as an application's user is), a user whose write grant was revoked, and a
table that is full (the error InnoDB gives when its tablespace cannot grow, raised here by a
trigger on the tests' own server). Submissions and ticks answer 503 database_read_only at
once, reads still answer, nothing is half-written (a bulk submission is all or nothing), and
the same processes carry on once writes are allowed again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from common.models import job_attempts, jobs, metadata
from tests.database_faults.conftest import stack_env
from tests.database_faults.own_mariadb import OwnMariaDB
from tests.database_faults.traffic import Answer, call, running
from tests.e2e.stack import LocalStack, start_stack

APP_USER, APP_PASSWORD = "skiplock_app", "app-password"
QUICK_SECONDS = 2.0
REPORT = Path(__file__).resolve().parents[2] / ".local-stack" / "read-only.json"
BULK = {"jobs": [{"type": "count", "payload": {"n": n}} for n in range(10)]}
SUBMISSIONS = [
    ("POST", "/jobs", {"type": "count"}),
    ("POST", "/jobs/add-job", {"type": "count", "idempotency_key": "read-only-key"}),
    ("POST", "/jobs/bulk", BULK),
]
FULL_TRIGGER = """
CREATE TRIGGER jobs_full BEFORE INSERT ON jobs FOR EACH ROW
IF (SELECT COUNT(*) FROM jobs) >= {rows} THEN
  SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1114, MESSAGE_TEXT = 'The table jobs is full';
END IF
"""


@pytest.fixture(scope="module")
def app_user(own_mariadb: OwnMariaDB, own_database: str) -> Iterator[str]:
    """A user with data grants only, table by table (a table grant's change applies to open
    connections at their next statement; a database grant's would not)."""
    tables = [table.name for table in metadata.sorted_tables] + ["executions"]
    own_mariadb.run(
        f"CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'",
        f"GRANT SELECT ON {own_database}.alembic_version TO '{APP_USER}'@'%'",
        *(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {own_database}.{t} TO '{APP_USER}'@'%'"
            for t in tables
        ),
    )
    yield own_mariadb.url(own_database, APP_USER, APP_PASSWORD)
    own_mariadb.run(f"DROP USER IF EXISTS '{APP_USER}'@'%'")


@pytest.fixture(scope="module")
def stack(app_user: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = stack_env(app_user, app_user)
    log = tmp_path_factory.mktemp("read-only") / "stack.log"
    with running(start_stack(env, args=("--no-cron",)), log) as stack:
        yield stack


def test_no_writes_answer_503_write_nothing_and_pass(
    stack: LocalStack, own_mariadb: OwnMariaDB, own_database: str, direct: Engine
) -> None:
    waiting = call(stack, "POST", "/jobs", {"type": "count"})
    assert waiting.status == 201, waiting

    refusals = {}
    own_mariadb.run("SET GLOBAL read_only = ON")
    try:
        refusals["read_only=ON"] = refused_writes(stack, direct)
    finally:
        own_mariadb.run("SET GLOBAL read_only = OFF")

    own_mariadb.run(f"REVOKE INSERT, UPDATE ON {own_database}.jobs FROM '{APP_USER}'@'%'")
    try:
        refusals["no INSERT, UPDATE grant on jobs"] = refused_writes(stack, direct)
    finally:
        own_mariadb.run(f"GRANT INSERT, UPDATE ON {own_database}.jobs TO '{APP_USER}'@'%'")

    for name, answers in refusals.items():
        assert [(a.what, a.status, a.code) for a in answers] == [
            *((f"{m} {p}", 503, "database_read_only") for m, p, _ in SUBMISSIONS),
            ("POST /ticks/work", 503, "database_read_only"),
            ("GET /jobs?limit=5", 200, None),
        ], name
        assert max(a.seconds for a in answers) < QUICK_SECONDS, answers

    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                name: {a.what: [a.status, a.code, round(a.seconds, 3)] for a in answers}
                for name, answers in refusals.items()
            },
            indent=2,
        )
        + "\n"
    )
    after = call(stack, "POST", "/jobs/bulk", BULK)  # the same processes, writes allowed again
    assert after.status == 201, after
    tick = call(stack, "POST", "/ticks/work", {"budget_seconds": 2})
    assert tick.status == 200, tick
    assert statuses(direct) == {"SUCCESS": 11}


def test_a_full_table_takes_a_bulk_submission_whole_or_not_at_all(
    stack: LocalStack, own_mariadb: OwnMariaDB, direct: Engine
) -> None:
    for _ in range(3):
        assert call(stack, "POST", "/jobs", {"type": "count"}).status == 201
    own_mariadb.run(f"USE {direct.url.database}", FULL_TRIGGER.format(rows=5))
    try:
        bulk = call(stack, "POST", "/jobs/bulk", BULK)  # rows 4 and 5 fit, the 6th does not
        one = call(stack, "POST", "/jobs", {"type": "count"})  # the 4th fits
    finally:
        own_mariadb.run(f"USE {direct.url.database}", "DROP TRIGGER jobs_full")

    assert (bulk.status, bulk.code) == (503, "database_read_only"), bulk
    assert one.status == 201, one
    assert statuses(direct) == {"CREATED": 4}


def refused_writes(stack: LocalStack, direct: Engine) -> list[Answer]:
    """Every kind of submission and a tick, then a read; the database must not have changed."""
    before = snapshot(direct)
    answers = [call(stack, method, path, body) for method, path, body in SUBMISSIONS]
    answers.append(call(stack, "POST", "/ticks/work", {"budget_seconds": 1}))
    answers.append(call(stack, "GET", "/jobs?limit=5"))
    assert snapshot(direct) == before
    return answers


def snapshot(direct: Engine) -> tuple[object, ...]:
    with direct.connect() as conn:
        rows = conn.execute(select(jobs.c.id, jobs.c.status, jobs.c.attempts)).all()
        attempts = conn.execute(select(func.count()).select_from(job_attempts)).scalar_one()
    return (sorted(map(tuple, rows)), attempts)


def statuses(direct: Engine) -> dict[str, int]:
    with direct.connect() as conn:
        counted = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
        return {str(status): int(n) for status, n in counted}
