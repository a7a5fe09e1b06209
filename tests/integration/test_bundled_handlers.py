"""email, pdf and file_upload jobs run by the real worker, on each database, against moto."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import RowMapping

from common.config import Settings
from common.enqueue import NewJob, enqueue
from common.handlers.catalog import build_registry
from common.models import jobs
from common.retry import BackoffPolicy
from common.schedule import promote_due
from common.states import Status
from common.worker import TickOptions, TickSummary, work_tick
from tests.cloud import cloud_settings, mocked_cloud, sent_messages

SETTINGS = cloud_settings()
RETRY_AFTER = timedelta(seconds=30)
CONTENT = b"hello, bucket"
JOBS: dict[str, dict[str, Any]] = {
    "email": {"to": "ana@example.com", "subject": "Report", "text": "It is ready."},
    "pdf": {"title": "Report", "table": {"header": ["k", "v"], "rows": [["cell-A1", 1]]}},
    "file_upload": {
        "filename": "hello.txt",
        "content_base64": base64.b64encode(CONTENT).decode(),
        "sha256": hashlib.sha256(CONTENT).hexdigest(),
    },
}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_cloud(monkeypatch, SETTINGS) as client:
        yield client


def submit(engine: Engine, job_type: str, payload: dict[str, Any]) -> int:
    with engine.begin() as conn:
        return enqueue(conn, NewJob(type=job_type, payload=payload)).id


def run_worker(engine: Engine, settings: Settings) -> TickSummary:
    promote_due(engine)
    options = TickOptions(
        worker_id="handlers-test",
        budget_seconds=60,
        backoff=BackoffPolicy(base_seconds=30, max_seconds=RETRY_AFTER.total_seconds(), jitter=0),
        stop_when_idle=True,
    )
    return work_tick(engine, build_registry(settings), options)


def row(engine: Engine, job_id: int) -> RowMapping:
    with engine.connect() as conn:
        return conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one()


def test_each_bundled_job_type_runs_to_success(engine: Engine, s3: Any) -> None:
    ids = {job_type: submit(engine, job_type, payload) for job_type, payload in JOBS.items()}

    summary = run_worker(engine, SETTINGS)

    assert (summary.succeeded, summary.failed, summary.dead_lettered) == (3, 0, 0)
    done = {job_type: row(engine, job_id) for job_type, job_id in ids.items()}
    assert {job["status"] for job in done.values()} == {Status.SUCCESS}
    [(sent, message)] = sent_messages()
    assert done["email"]["result"] == {"transport": "ses", "message_id": sent.id, "recipients": 1}
    assert message["X-Skiplock-Job-Id"] == str(ids["email"])
    pdf_key = f"pdf/{ids['pdf']}.pdf"
    pdf = s3.get_object(Bucket="skiplock-test", Key=pdf_key)["Body"].read()
    assert done["pdf"]["result"]["key"] == pdf_key
    assert done["pdf"]["result"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    upload_key = f"uploads/{ids['file_upload']}/hello.txt"
    assert s3.get_object(Bucket="skiplock-test", Key=upload_key)["Body"].read() == CONTENT
    assert done["file_upload"]["result"]["bytes"] == len(CONTENT)


def test_a_job_whose_bucket_is_missing_fails_and_will_be_retried(engine: Engine, s3: Any) -> None:
    job_id = submit(engine, "pdf", JOBS["pdf"])

    summary = run_worker(engine, cloud_settings(s3_bucket="no-such-bucket"))

    assert (summary.succeeded, summary.failed, summary.dead_lettered) == (0, 1, 0)
    job = row(engine, job_id)
    assert (job["status"], job["attempts"], job["result"]) == (Status.FAILED, 1, None)
    assert "NoSuchBucket" in job["last_error"]
    assert job["run_at"] - job["updated_at"] >= RETRY_AFTER - timedelta(seconds=1)


def test_a_permanent_failure_goes_to_the_dlq_at_once(engine: Engine, s3: Any) -> None:
    job_id = submit(engine, "file_upload", JOBS["file_upload"] | {"sha256": "0" * 64})

    summary = run_worker(engine, SETTINGS)

    assert summary.dead_lettered == 1
    job = row(engine, job_id)
    assert (job["status"], job["attempts"]) == (Status.DLQ, 1)
    assert job["last_error"].startswith("PermanentJobError: sha256 mismatch")


def test_many_bundled_jobs_run_side_by_side_each_writing_its_own_result(
    engine: Engine, s3: Any
) -> None:
    # Ten at a time on the tick's threads, sharing the S3 and SES clients.
    ids = [
        submit(engine, job_type, payload) for _ in range(8) for job_type, payload in JOBS.items()
    ]

    summary = run_worker(engine, SETTINGS)

    assert (summary.succeeded, summary.failed, summary.dead_lettered) == (24, 0, 0)
    done = [row(engine, job_id) for job_id in ids]
    assert {job["status"] for job in done} == {Status.SUCCESS}
    assert len(sent_messages()) == 8
    keys = {job["result"]["key"] for job in done if job["type"] != "email"}
    assert len(keys) == 16
    for key in keys:
        assert s3.get_object(Bucket="skiplock-test", Key=key)["ContentLength"] > 0
