"""The README's manual ticks on the local stack without its cron: short ticks run every kind
of job, including those whose timeout is longer than the tick, and hand nothing back."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.stack import LocalStack, stack_on_empty_mariadb

JOBS: dict[str, dict[str, Any]] = {
    "noop": {"type": "noop"},
    "sleep": {"type": "sleep", "payload": {"seconds": 0.05}},
    "email": {
        "type": "email",
        "payload": {"to": "ada@example.com", "subject": "Manual tick", "text": "Sent."},
    },
    "pdf": {"type": "pdf", "payload": {"title": "Manual tick", "paragraphs": ["One page."]}},
    "file_upload": {
        "type": "file_upload",
        "payload": {"filename": "a.txt", "content_base64": base64.b64encode(b"a").decode()},
    },
}


@pytest.fixture(scope="module")
def stack(database_urls: dict[str, str]) -> Iterator[LocalStack]:
    with stack_on_empty_mariadb(database_urls["mariadb"], args=("--no-cron",)) as stack:
        yield stack


@pytest.mark.parametrize("budget_seconds", [2, 5])
def test_short_manual_ticks_run_every_bundled_job_type_and_release_nothing(
    stack: LocalStack, budget_seconds: float
) -> None:
    ids = {}
    for name, body in JOBS.items():
        status, job = stack.call("POST", "/jobs", body)
        assert status == 201, job
        ids[name] = job["id"]

    summaries = []
    for _ in range(5):  # the first tick should do it all; a few more may not hurt
        status, summary = stack.call("POST", "/ticks/work", {"budget_seconds": budget_seconds})
        assert status == 200, summary
        summaries.append(summary)
        done = {name: stack.call("GET", f"/jobs/{i}")[1] for name, i in ids.items()}
        if all(job["status"] == "SUCCESS" for job in done.values()):
            break

    assert {name: job["status"] for name, job in done.items()} == dict.fromkeys(JOBS, "SUCCESS")
    assert [s["released"] for s in summaries] == [0] * len(summaries), summaries
    assert all(job["attempts"] == 1 for job in done.values())
