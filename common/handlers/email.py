"""The ``email`` job type: send one message through SES (or SMTP, with EMAIL_TRANSPORT=smtp).

Sending is at least once: no mail service can take back a message, so a worker that crashes
after sending and before its result is recorded leads to a second send. Every message carries
the job id (an ``X-Skiplock-Job-Id`` header, a ``Message-ID`` derived from it, which SES
replaces with its own, and on SES a ``skiplock-job-id`` message tag) so that duplicates can be
recognised downstream.
"""

from __future__ import annotations

import functools
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Annotated, Any

import pydantic
import pydantic_core

from common.config import Settings
from common.handlers.addresses import EmailAddress
from common.handlers.mail_transports import POLICY, Transport, transport_for
from common.handlers.registry import Job, JobContext, Registry

MAX_RECIPIENTS = 50  # SES's limit for one message (To, Cc and Bcc together)
JOB_HEADER = "X-Skiplock-Job-Id"


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Addresses = Annotated[list[EmailAddress], pydantic.BeforeValidator(_listed)]


class EmailPayload(pydantic.BaseModel):
    """One message: recipients (a string or a list each), a subject, a text and/or HTML body."""

    model_config = pydantic.ConfigDict(extra="forbid")
    to: Addresses = pydantic.Field(min_length=1)
    cc: Addresses = pydantic.Field(default_factory=list)
    bcc: Addresses = pydantic.Field(default_factory=list, validate_default=True)
    reply_to: Addresses = pydantic.Field(default_factory=list)
    subject: str = pydantic.Field(min_length=1, max_length=998, pattern=r"^[^\r\n]*$")
    text: str | None = None
    html: str | None = pydantic.Field(default=None, validate_default=True)

    @pydantic.field_validator("bcc")
    @classmethod
    def _not_too_many(cls, bcc: list[str], info: pydantic.ValidationInfo) -> list[str]:
        count = len(info.data.get("to", [])) + len(info.data.get("cc", [])) + len(bcc)
        if count > MAX_RECIPIENTS:
            raise pydantic_core.PydanticCustomError(
                "too_many_recipients",
                "to, cc and bcc together have {count} addresses; at most {limit} are allowed",
                {"count": count, "limit": MAX_RECIPIENTS},
            )
        return bcc

    @pydantic.field_validator("html")
    @classmethod
    def _has_body(cls, html: str | None, info: pydantic.ValidationInfo) -> str | None:
        if html is None and info.data.get("text") is None:
            raise pydantic_core.PydanticCustomError("body", "give text or html (or both)")
        return html

    def recipients(self) -> list[str]:
        """Everyone the message goes to, Bcc included (who appear in no header)."""
        return [*self.to, *self.cc, *self.bcc]


def build_message(job_id: int, payload: EmailPayload, sender: str) -> EmailMessage:
    """The MIME message for ``payload``, from ``sender``, marked with the job id."""
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = ", ".join(payload.to)
    if payload.cc:
        message["Cc"] = ", ".join(payload.cc)
    if payload.reply_to:
        message["Reply-To"] = ", ".join(payload.reply_to)
    message["Subject"] = payload.subject
    message["Date"] = formatdate(usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "skiplock.invalid"
    message["Message-ID"] = f"<skiplock-job-{job_id}@{domain}>"
    message[JOB_HEADER] = str(job_id)
    if payload.text is not None:
        message.set_content(payload.text)
    if payload.html is not None and payload.text is not None:
        message.add_alternative(payload.html, subtype="html")
    elif payload.html is not None:
        message.set_content(payload.html, subtype="html")
    return message


def send_email(
    job: Job, ctx: JobContext, *, settings: Settings, transport: Transport
) -> dict[str, Any]:
    """Send the job's message; the result names the transport and the message id it gave."""
    payload: EmailPayload = job.payload
    message = build_message(job.id, payload, settings.ses_sender)
    result = transport.send(message, payload.recipients(), job.id, ctx.remaining_seconds())
    ctx.logger.info("job %s: sent message %s", job.id, result.get("message_id"))
    return result


def register(registry: Registry, settings: Settings) -> None:
    """Declare the ``email`` job type, sending through the transport EMAIL_TRANSPORT names."""
    handler = functools.partial(send_email, settings=settings, transport=transport_for(settings))
    registry.job_type("email", payload=EmailPayload, timeout_seconds=15)(handler)
