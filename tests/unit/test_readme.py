"""README.md stays true: every setting the code reads is in its settings table, and no more."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def settings_read_by_code() -> set[str]:
    source = (REPO / "common" / "config.py").read_text()
    return set(re.findall(r'_read\(\s*e,\s*"([A-Z0-9_]+)"', source))


def settings_in_readme() -> set[str]:
    table = (REPO / "README.md").read_text().split("## Settings", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", table, flags=re.MULTILINE))


def test_the_readme_settings_table_lists_exactly_the_settings_the_code_reads() -> None:
    assert settings_read_by_code()  # the pattern still finds them
    assert settings_in_readme() == settings_read_by_code()


def test_the_issue_named_settings_are_all_there() -> None:
    required = {
        "DATABASE_URL",
        "API_TOKEN",
        "SCHEDULER_TOKEN",
        "LEASE_SECONDS",
        "BACKOFF_BASE_SECONDS",
        "BACKOFF_MAX_SECONDS",
        "MAX_ATTEMPTS",
        "WORKER_BATCH_SIZE",
        "WORKER_BUDGET_SECONDS",
        "MAX_PAYLOAD_BYTES",
    }
    assert required <= settings_in_readme()


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    assert "./tests/run.sh" in (REPO / "README.md").read_text()
    assert "./tests/run.sh" in (REPO / ".ci" / "run").read_text()
