"""The ``email`` job type against moto's SES: what is sent, what is refused, and how."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from common import aws
from common.errors import PermanentJobError, ValidationError
from common.handlers.catalog import build_registry
from common.handlers.registry import JobType
from tests.cloud import cloud_settings, make_context, make_job, mocked_cloud, sent_messages

SETTINGS = cloud_settings()
PAYLOAD = {
    "to": ["ana@example.com", "bo@example.org"],
    "cc": "cy@example.net",
    "bcc": ["dee@example.com"],
    "reply_to": "help@example.com",
    "subject": "Your report — ready ✓",
    "text": "Hello Ana,\nthe report is ready.",
    "html": "<p>Hello Ana, the report is <b>ready</b>.</p>",
}


@pytest.fixture
def email_type() -> JobType:
    return build_registry(SETTINGS).get("email")


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with mocked_cloud(monkeypatch, SETTINGS):
        yield


def send(job_type: JobType, payload: dict[str, Any], job_id: int = 42) -> Any:
    job = make_job("email", job_type.parse_payload(payload), job_id=job_id)
    return job_type.handler(job, make_context())


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(part.get_content())


def test_email_is_sent_through_ses_to_every_recipient(cloud: None, email_type: JobType) -> None:
    result = send(email_type, PAYLOAD, job_id=42)

    [(sent, message)] = sent_messages()
    assert result == {"transport": "ses", "message_id": sent.id, "recipients": 4}
    assert sent.source == "jobs@example.com"
    assert message["From"] == "Jobs <jobs@example.com>"
    assert set(sent.destinations) == {
        "ana@example.com",
        "bo@example.org",
        "cy@example.net",
        "dee@example.com",
    }
    assert message["To"] == "ana@example.com, bo@example.org"
    assert message["Cc"] == "cy@example.net"
    assert message["Bcc"] is None
    assert message["Reply-To"] == "help@example.com"
    assert message["Subject"] == "Your report — ready ✓"
    assert body(message, "plain") == "Hello Ana,\nthe report is ready.\n"
    assert "<b>ready</b>" in body(message, "html")


def test_email_carries_the_job_id_so_duplicates_can_be_recognised(
    cloud: None, email_type: JobType
) -> None:
    send(email_type, PAYLOAD, job_id=7)
    send(email_type, PAYLOAD, job_id=7)  # the same job, run again after a crash

    first, second = (message for _, message in sent_messages())
    assert first["X-Skiplock-Job-Id"] == second["X-Skiplock-Job-Id"] == "7"
    assert first["Message-ID"] == second["Message-ID"] == "<skiplock-job-7@example.com>"


def test_email_with_only_an_html_body_is_sent_as_html(cloud: None, email_type: JobType) -> None:
    send(email_type, {"to": "ana@example.com", "subject": "Hi", "html": "<p>Hi</p>"})

    [(_, message)] = sent_messages()
    assert message.get_content_type() == "text/html"
    assert message.get_content().strip() == "<p>Hi</p>"


def test_email_from_an_unverified_sender_is_permanent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with mocked_cloud(monkeypatch, SETTINGS):
        unverified = cloud_settings(ses_sender="stranger@example.net")
        email_type = build_registry(unverified).get("email")
        with pytest.raises(PermanentJobError, match="MessageRejected"):
            send(email_type, PAYLOAD)
        assert sent_messages() == []


def test_email_is_transient_when_ses_cannot_be_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    aws.clear_clients()
    unreachable = cloud_settings(ses_endpoint_url="http://127.0.0.1:9", aws_region="eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    email_type = build_registry(unreachable).get("email")
    try:
        with pytest.raises(EndpointConnectionError):  # not a JobError: the worker retries it
            send(email_type, PAYLOAD)
    finally:
        aws.clear_clients()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": None}, "payload.to"),
        ({"to": []}, "payload.to"),
        ({"to": ["ana@example.com", "not-an-address"]}, "payload.to.1"),
        ({"cc": "cy@example"}, "payload.cc.0"),
        ({"bcc": [f"u{i}@example.com" for i in range(48)]}, "payload.bcc"),
        ({"reply_to": "help"}, "payload.reply_to.0"),
        ({"subject": ""}, "payload.subject"),
        ({"subject": "Hi\r\nBcc: eve@example.com"}, "payload.subject"),
        ({"text": None, "html": None}, "payload.html"),
        ({"attachments": []}, "payload.attachments"),
    ],
)
def test_invalid_email_payload_names_the_field(
    email_type: JobType, change: dict[str, Any], field: str
) -> None:
    payload = {k: v for k, v in (PAYLOAD | change).items() if v is not None}

    with pytest.raises(ValidationError) as raised:
        email_type.parse_payload(payload)

    assert raised.value.field == field
    assert raised.value.message.startswith(field)


def test_email_payload_addresses_are_normalized(email_type: JobType) -> None:
    payload = email_type.parse_payload({"to": "Ana@Bücher.DE", "subject": "x", "text": "y"})

    assert payload.to == ["Ana@xn--bcher-kva.de"]


def test_unknown_job_type_is_refused_on_the_type_field() -> None:
    with pytest.raises(ValidationError) as raised:
        build_registry(SETTINGS).get("fax")

    assert raised.value.field == "type"
