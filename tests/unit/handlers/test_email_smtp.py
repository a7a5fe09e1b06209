"""The ``email`` job type with EMAIL_TRANSPORT=smtp, against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from common.errors import PermanentJobError
from common.handlers.catalog import build_registry
from common.handlers.registry import JobType
from tests.cloud import cloud_settings, make_context, make_job

REFUSED = "gone@example.com"
PAYLOAD = {
    "to": ["ana@example.com", REFUSED],
    "bcc": "dee@example.com",
    "subject": "Grüße",
    "text": "Hallo Ana",
}


class Mailbox:
    """An aiosmtpd handler that keeps what it receives and refuses one address."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_RCPT(  # noqa: N802 (aiosmtpd calls its hooks by these names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address == REFUSED:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


def smtp_email_type(port: int) -> JobType:
    settings = cloud_settings(email_transport="smtp", smtp_host="127.0.0.1", smtp_port=port)
    return build_registry(settings).get("email")


def send(job_type: JobType, payload: dict[str, Any]) -> Any:
    job = make_job("email", job_type.parse_payload(payload), job_id=9)
    return job_type.handler(job, make_context())


def test_email_is_sent_over_smtp_and_refused_recipients_are_reported(
    mailbox: tuple[Mailbox, int],
) -> None:
    box, port = mailbox

    result = send(smtp_email_type(port), PAYLOAD)

    [(recipients, message)] = box.received
    assert recipients == ["ana@example.com", "dee@example.com"]
    assert message["Subject"] == "Grüße"
    assert message["Bcc"] is None
    assert message["X-Skiplock-Job-Id"] == "9"
    assert message.get_content().strip() == "Hallo Ana"
    assert result == {
        "transport": "smtp",
        "message_id": "<skiplock-job-9@example.com>",
        "recipients": 2,
        "refused": [REFUSED],
    }


def test_email_whose_every_recipient_is_refused_is_permanent(
    mailbox: tuple[Mailbox, int],
) -> None:
    box, port = mailbox

    with pytest.raises(PermanentJobError, match="every recipient was refused"):
        send(smtp_email_type(port), {"to": REFUSED, "subject": "x", "text": "y"})

    assert box.received == []


def test_email_is_transient_when_the_smtp_server_is_down() -> None:
    with pytest.raises(OSError):
        send(smtp_email_type(_free_port()), PAYLOAD)
