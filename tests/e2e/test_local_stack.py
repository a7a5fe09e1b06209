"""The whole system as a developer runs it: ./local/start.sh on MariaDB, real HTTP, local cron."""

from __future__ import annotations

import base64
import io
import json
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from pypdf import PdfReader

from tests.e2e.stack import LocalStack, stack_on_empty_mariadb

FINAL = {"SUCCESS", "DLQ", "CANCELLED"}


@pytest.fixture(scope="module")
def stack(database_urls: dict[str, str]) -> Iterator[LocalStack]:
    env = {"BACKOFF_BASE_SECONDS": "0.1", "BACKOFF_JITTER": "0"}
    with stack_on_empty_mariadb(database_urls["mariadb"], env) as stack:
        yield stack


def test_local_cron_runs_submitted_jobs_to_their_final_status(stack: LocalStack) -> None:
    submitted = {
        "noop": {"type": "noop"},
        "sleep": {"type": "sleep", "payload": {"seconds": 0.2}},
        "retried": {"type": "fail", "payload": {"times": 1}, "max_attempts": 3},
        "dead": {"type": "fail", "payload": {"times": 2, "message": "boom"}, "max_attempts": 2},
        "delayed": {"type": "noop", "delay_seconds": 2},
    }
    ids = {}
    for name, body in submitted.items():
        status, job = stack.call("POST", "/jobs", body)
        assert status == 201, job
        assert job["status"] == "CREATED"
        ids[name] = job["id"]

    final = {name: stack.wait_for_status(i, FINAL, seconds=90) for name, i in ids.items()}

    assert {name: job["status"] for name, job in final.items()} == {
        "noop": "SUCCESS",
        "sleep": "SUCCESS",
        "retried": "SUCCESS",
        "dead": "DLQ",
        "delayed": "SUCCESS",
    }
    assert final["retried"]["attempts"] == 2
    assert final["dead"]["attempts"] == 2
    assert final["dead"]["last_error"] == "JobError: boom"


def test_a_dead_lettered_job_retried_through_update_runs_again(stack: LocalStack) -> None:
    status, job = stack.call(
        "POST", "/jobs", {"type": "fail", "payload": {"times": 1}, "max_attempts": 1}
    )
    assert status == 201
    assert stack.wait_for_status(job["id"], FINAL, seconds=90)["status"] == "DLQ"

    status, answer = stack.call("POST", "/jobs/update", {"action": "retry", "ids": [job["id"]]})
    assert (status, answer) == (200, {"updated": 1})

    again = stack.wait_for_status(job["id"], FINAL, seconds=90)
    assert again["status"] == "SUCCESS"
    assert [a["outcome"] for a in again["attempt_history"]] == ["error", "success"]


def test_requests_without_the_token_are_refused(stack: LocalStack) -> None:
    stack.token, token = "wrong", stack.token
    try:
        status, answer = stack.call("GET", "/jobs")
    finally:
        stack.token = token
    assert status == 401
    assert answer["error"]["code"] == "unauthorized"


def test_email_pdf_and_upload_jobs_leave_their_results_in_moto(stack: LocalStack) -> None:
    content = b"hello from skiplock\n"
    bodies = {
        "email": {"to": ["ada@example.com"], "subject": "Report ready", "text": "See the PDF."},
        "pdf": {
            "title": "Quarterly report",
            "paragraphs": ["All systems nominal."],
            "table": {"header": ["region", "jobs"], "rows": [["eu-west-1", "1234"]]},
        },
        "file_upload": {
            "filename": "hello.txt",
            "content_type": "text/plain",
            "content_base64": base64.b64encode(content).decode(),
        },
    }
    ids = {}
    for job_type, payload in bodies.items():
        status, job = stack.call("POST", "/jobs", {"type": job_type, "payload": payload})
        assert status == 201, job
        ids[job_type] = job["id"]
    done = {t: stack.wait_for_status(i, FINAL, seconds=90) for t, i in ids.items()}
    assert {t: job["status"] for t, job in done.items()} == dict.fromkeys(bodies, "SUCCESS")

    s3 = boto3.client(
        "s3",
        endpoint_url=stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    pdf = done["pdf"]["result"]
    pdf_bytes = s3.get_object(Bucket=pdf["bucket"], Key=pdf["key"])["Body"].read()
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf_bytes)).pages)
    assert "Quarterly report" in text and "eu-west-1" in text
    upload = done["file_upload"]["result"]
    assert s3.get_object(Bucket=upload["bucket"], Key=upload["key"])["Body"].read() == content

    with urllib.request.urlopen(stack.moto_url + "/moto-api/data.json") as answer:
        sent = json.loads(answer.read())["ses"]["RawMessage"]
    raw = [m["raw_data"] for m in sent if "Report ready" in m["raw_data"]]
    assert len(raw) == 1
    assert "ada@example.com" in raw[0] and "See the PDF." in raw[0]


def test_ctrl_c_stops_the_stack_cleanly(stack: LocalStack) -> None:
    output = stack.stop()
    assert stack.process.returncode == 0, output
    assert "skiplock local stack is up" in output
    assert "cron  worker-tick: POST /ticks/work" in output
    assert output.rstrip().endswith("stopped")
