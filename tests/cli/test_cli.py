"""The `skiplock` console script, installed by the project, run in subprocesses on MariaDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from common.states import Status
from tests.factories import count_rows, make_job, statuses

SKIPLOCK = Path(sys.executable).with_name("skiplock")
COMMANDS = (
    "migrate",
    "submit",
    "bulk",
    "list",
    "show",
    "retry",
    "cancel",
    "work",
    "schedule",
    "stats",
    "dlq",
)
S = Status


class Cli:
    def __init__(self, url: str) -> None:
        self.env = {**os.environ, "DATABASE_URL": url, "WORKER_POLL_SECONDS": "0.05"}

    def __call__(
        self, *args: str, stdin: str | None = None, code: int = 0, **env: str
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(SKIPLOCK), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=120,
        )
        assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(mariadb_engine: Engine, database_urls: dict[str, str]) -> Cli:
    return Cli(database_urls["mariadb"])


def test_the_console_script_is_installed_and_every_command_has_help(cli: Cli) -> None:
    assert SKIPLOCK.exists(), "pip install -e . installs it (local/bootstrap.sh does)"
    overview = cli("--help").stdout
    for command in (*COMMANDS, "serve"):
        assert command in overview
    for command in COMMANDS:
        assert "Usage: skiplock " + command in cli(command, "--help").stdout


def test_submit_show_and_list_agree_with_the_api(cli: Cli) -> None:
    job = cli.json(
        "submit", "fail", "--payload", '{"times": 1}', "--queue", "q1", "--priority", "3"
    )
    assert (job["type"], job["queue"], job["priority"], job["status"]) == (
        "fail",
        "q1",
        3,
        "CREATED",
    )
    again = cli("submit", "noop", "--idempotency-key", "k-1").stdout
    assert (
        cli("submit", "noop", "--idempotency-key", "k-1").stdout.replace("exists", "added") == again
    )

    shown = cli.json("show", str(job["id"]))
    assert shown["payload"] == {"times": 1} and shown["attempt_history"] == []
    page = cli.json("list", "--queue", "q1", "--limit", "1")
    assert [j["id"] for j in page["jobs"]] == [job["id"]] and page["next_cursor"] is None
    assert "fail" in cli("list").stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("submit", "nosuchtype"), "type"),
        (("submit", "noop", "--payload", "[1]"), "payload"),
        (("submit", "noop", "--payload", "{"), "payload"),
        (("submit", "sleep", "--payload", '{"seconds": "soon"}'), "payload.seconds"),
        (("submit", "noop", "--queue", "bad queue"), "queue"),
        (("submit", "noop", "--priority", "high"), "--priority"),
        (("list", "--status", "DONE"), "status"),
        (("list", "--limit", "0"), "--limit"),
        (("retry",), "filter"),
        (("retry", "--ids", "1,x"), "ids"),
        (("cancel", "--ids", "1", "--queue", "q"), "ids"),
        (("cancel", "--all", "--queue", "q"), "filter.all"),
    ],
)
def test_invalid_input_exits_2_naming_the_field(
    cli: Cli, args: tuple[str, ...], field: str
) -> None:
    assert field in cli(*args, code=2).stderr


def test_a_missing_job_or_an_unreachable_database_exits_1(cli: Cli) -> None:
    assert "job 99999 not found" in cli("show", "99999", code=1).stderr
    down = cli("list", code=1, DATABASE_URL="mysql+pymysql://root@127.0.0.1:1/none")
    assert "cannot be reached" in down.stderr


def test_a_bad_setting_exits_2_naming_it(cli: Cli) -> None:
    assert "LEASE_SECONDS" in cli("stats", code=2, LEASE_SECONDS="long").stderr


def test_bulk_adds_in_transactions_and_a_bad_line_keeps_none_of_its_own(
    cli: Cli, mariadb_engine: Engine
) -> None:
    lines = [json.dumps({"type": "noop", "payload": {}})] * 2500
    lines[2099] = json.dumps({"type": "noop", "priority": "high"})
    bad = cli("bulk", "-", stdin="\n".join(lines) + "\n", code=2)
    assert "line 2100" in bad.stderr and "priority" in bad.stderr
    assert "2000 jobs of lines 1-2000 were added" in bad.stderr
    assert count_rows(mariadb_engine) == 2000

    good = cli("bulk", "-", "--json", stdin="\n".join(lines[:1500]) + "\n")
    assert json.loads(good.stdout) == {"added": 1500, "transactions": 2, "lines": 1500}
    assert "1500/1500" in good.stderr  # the progress bar's last state
    assert count_rows(mariadb_engine) == 3500


def test_bulk_reads_a_file_and_names_a_line_that_is_not_json(cli: Cli, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"type": "noop"}\n\n{"type": "noop", "queue": "q2"}\n')
    assert "added 2 jobs from 3 lines in 1 transactions" in cli("bulk", str(jobs)).stdout
    jobs.write_text('{"type": "noop"}\nnot json\n')
    assert "line 2" in cli("bulk", str(jobs), code=2).stderr


def test_work_until_empty_then_triage_the_dlq(cli: Cli, mariadb_engine: Engine) -> None:
    cli.env["MAX_ATTEMPTS"] = "1"  # every failure is dead-lettered at once
    for n in range(4):
        cli("submit", "noop", "--payload", "{}")
        if n < 2:
            cli("submit", "fail", "--payload", json.dumps({"times": 1, "message": f"down {n}s"}))
    cli("submit", "noop", "--delay", "3600")  # not due: the work does not wait for it
    for _ in range(2):
        cli.json("submit", "fail", "--payload", '{"times": 1, "message": "x"}')

    worked = cli("work", "--until-empty", "--json")
    summary = json.loads(worked.stdout)
    assert summary["succeeded"] == 4 and summary["dead_lettered"] == 4
    assert "8/8" in worked.stderr  # the progress bar

    stats = {q["queue"]: q for q in cli.json("stats")["queues"]}
    assert stats["default"]["by_status"]["SUCCESS"] == 4
    assert stats["default"]["by_status"]["CREATED"] == 1
    assert stats["default"]["dead_lettered_last_hour"] == 4
    groups = cli.json("dlq")["groups"]
    assert sorted(g["count"] for g in groups) == [2, 2]
    down = next(g for g in groups if g["pattern"] == "JobError: down <n>s")
    assert "down" in cli("dlq").stdout

    assert cli.json("retry", "--fingerprint", down["fingerprint"]) == {"updated": 2}
    assert cli.json("cancel", "--status", "DLQ") == {"updated": 2}
    after = statuses(mariadb_engine).values()
    assert sorted(after).count(S.SCHEDULED) == 2 and sorted(after).count(S.CANCELLED) == 2


def test_schedule_and_migrate_run_once(cli: Cli, mariadb_engine: Engine) -> None:
    due = make_job(mariadb_engine, S.CREATED, run_in=-5)
    assert cli.json("schedule")["promoted"] == 1
    assert statuses(mariadb_engine) == {due: S.SCHEDULED}
    assert cli("migrate").stdout.strip() == "migrated"
    assert cli("work", "--budget", "0.5").stdout.startswith("promoted=")
