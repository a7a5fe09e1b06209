"""Schemathesis against the document the stack serves (GET /openapi.json), every operation:
no 5xx, every answer as the document says, and the stack still answering afterwards.

SCHEMATHESIS_MAX_EXAMPLES (default 100) is the examples per operation and phase; the CI run
generates over 2,000 cases in about a minute and a half. A longer run:
``SCHEMATHESIS_MAX_EXAMPLES=1000 ./tests/run.sh tests/e2e/test_schemathesis.py``.

Two checks are left out, for the reason given: ``positive_data_acceptance`` (a request the
schema allows must be accepted) cannot hold for rules the document cannot state, such as a job
type the deployment registers (JOB_MODULES) or a status name in any case, and
``allow_header_conformance``, because ``GET /jobs/{job_id}`` shares its path with ``POST
/jobs/bulk``, so a 405 there truthfully allows GET. Every other check runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import LocalStack, stack_on_empty_mariadb

SCHEDULER_TOKEN = "e2e-scheduler-token-schemathesis"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100"))
MIN_CASES = 2000 if MAX_EXAMPLES >= 100 else 1
EXCLUDED_CHECKS = "positive_data_acceptance,allow_header_conformance"
ENV = {
    "SCHEDULER_TOKEN": SCHEDULER_TOKEN,
    # Ticks answer within their budget: keep them short, so that fuzzing them stays quick.
    "WORKER_BUDGET_SECONDS": "0.2",
    "SCHEDULE_BUDGET_SECONDS": "0.2",
    "LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="module")
def stack(database_urls: dict[str, str]) -> Iterator[LocalStack]:
    with stack_on_empty_mariadb(database_urls["mariadb"], ENV, args=("--no-cron",)) as stack:
        yield stack


def schemathesis(stack: LocalStack, token: str, paths: str, examples: int, tmp: Path) -> str:
    """One run of the schemathesis CLI; fails the test on any failed check. Returns its output.

    The document is read as served (with the API token: the scheduler token may not read it)."""
    document = tmp / "openapi.json"
    document.write_text(json.dumps(stack.call("GET", "/openapi.json")[1]))
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        str(document),
        "--url",
        stack.base_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--include-path-regex",
        paths,
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--max-examples",
        str(examples),
        # One worker: CPython 3.11's ast.parse is not thread-safe, and hypothesis calls it.
        "--workers",
        "1",
        "--seed",
        os.environ.get("SCHEMATHESIS_SEED", "14"),
        "--request-timeout",
        "30",
        "--no-color",
    ]
    run = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    (tmp / f"schemathesis-{token[:8]}.log").write_text(output)
    failures = "\n".join(re.findall(r"^(?:_{5,} .+ _{5,}|- ST\d+ .+)$", output, re.M))
    assert run.returncode == 0, failures + output[-3000:]
    return output


def generated(output: str) -> int:
    found = re.search(r"(\d+) generated", output)
    assert found, output[-2000:]
    return int(found.group(1))


def test_schemathesis_finds_no_5xx_and_no_answer_outside_the_document(
    stack: LocalStack, tmp_path: Path
) -> None:
    api = schemathesis(stack, stack.token, "^/(?!ticks/)", MAX_EXAMPLES, tmp_path)
    ticks = schemathesis(stack, SCHEDULER_TOKEN, "^/ticks/", max(MAX_EXAMPLES // 5, 5), tmp_path)
    cases = generated(api) + generated(ticks)
    print(f"schemathesis: {cases} cases generated, 0 failures")

    assert cases >= MIN_CASES
    assert stack.call("GET", "/openapi.json")[0] == 200
    assert stack.call("POST", "/jobs", {"type": "noop"})[0] == 201
