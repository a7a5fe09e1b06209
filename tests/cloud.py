"""S3 and SES emulated by moto, in process: for tests of the job handlers. No network is used."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import RawMessage, ses_backends

from common import aws
from common.config import Settings
from common.handlers.registry import Job, JobContext

AWS_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SES")


def cloud_settings(**overrides: Any) -> Settings:
    """Settings for handler tests: a test bucket and sender, no endpoint override."""
    values: dict[str, Any] = {"s3_bucket": "skiplock-test", "ses_sender": "Jobs <jobs@example.com>"}
    return Settings(**(values | overrides))


@contextmanager
def mocked_cloud(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[Any]:
    """Moto's S3 and SES, prepared as the local stack prepares them; yields an S3 client."""
    for name in AWS_ENDPOINT_VARIABLES:  # boto3 reads these itself, and would leave moto
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        aws.clear_clients()
        aws.prepare_local_cloud(settings)
        try:
            yield aws.s3(settings)
        finally:
            aws.clear_clients()


def sent_messages(region: str = "us-east-1") -> list[tuple[RawMessage, EmailMessage]]:
    """What moto's SES accepted, each with its parsed MIME message (with \n line ends)."""
    backend = ses_backends[DEFAULT_ACCOUNT_ID][region]
    return [
        (sent, email.message_from_string(_lf(sent.raw_data), policy=email.policy.default))
        for sent in backend.sent_messages
        if isinstance(sent, RawMessage)
    ]


def _lf(raw: str) -> str:
    return raw.replace("\r\n", "\n")


def make_job(job_type: str, payload: Any, *, job_id: int = 42, attempt: int = 1) -> Job:
    """A Job as the worker hands it to a handler (``payload`` already parsed)."""
    return Job(job_id, job_type, "default", attempt, 5, payload)


def make_context(seconds: float = 30.0) -> JobContext:
    """A context with ``seconds`` left and a lease that extends without a database."""
    return JobContext(deadline=time.monotonic() + seconds, extend_lease=lambda _: None)
