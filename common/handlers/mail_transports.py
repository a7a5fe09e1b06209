"""How the ``email`` job type hands a message over: SES (the default) or an SMTP server.

Each transport sorts its failures the same way: the message or its addresses are refused
(permanent: the job goes to the DLQ), or the service is unavailable (transient: it retries).
"""

from __future__ import annotations

import email.policy
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, Protocol

from botocore.exceptions import ClientError

from common import aws
from common.config import Settings
from common.errors import JobError, PermanentJobError
from common.handlers.addresses import sender_address

# 7-bit bodies (quoted-printable or base64 when needed) go through any relay unchanged.
POLICY = email.policy.SMTP.clone(cte_type="7bit")
JOB_TAG = "skiplock-job-id"
PERMANENT_SES_ERRORS = frozenset(
    {
        "MessageRejected",
        "InvalidParameterValue",
        "MailFromDomainNotVerifiedException",
        "ConfigurationSetDoesNotExist",
    }
)
SMTP_TIMEOUT_SECONDS = 30.0


class Transport(Protocol):
    """Sends a built message to its recipients; returns a JSON-serializable result."""

    def send(
        self, message: EmailMessage, recipients: list[str], job_id: int, timeout: float
    ) -> dict[str, Any]: ...


class SesTransport:
    """SES's SendRawEmail: Bcc recipients travel in Destinations, never in a header."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(
        self, message: EmailMessage, recipients: list[str], job_id: int, timeout: float
    ) -> dict[str, Any]:
        """Send through SES; MessageRejected and bad addresses are permanent."""
        try:
            answer = aws.ses(self.settings).send_raw_email(
                Source=sender_address(self.settings.ses_sender),  # the From header keeps the name
                Destinations=recipients,
                RawMessage={"Data": message.as_bytes()},
                Tags=[{"Name": JOB_TAG, "Value": str(job_id)}],
            )
        except ClientError as exc:
            code = aws.error_code(exc)
            text = f"SES {code}: {exc.response.get('Error', {}).get('Message', '')}"
            raise (PermanentJobError if code in PERMANENT_SES_ERRORS else JobError)(text) from exc
        return {
            "transport": "ses",
            "message_id": answer["MessageId"],
            "recipients": len(recipients),
        }


class SmtpTransport:
    """Plain SMTP (optionally STARTTLS and login), one connection per message."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(
        self, message: EmailMessage, recipients: list[str], job_id: int, timeout: float
    ) -> dict[str, Any]:
        """Send through SMTP; a 5xx refusal is permanent, a 4xx or a lost connection is not."""
        s = self.settings
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=_timeout(timeout)) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password or "")
                refused = smtp.send_message(
                    message, from_addr=sender_address(s.ses_sender), to_addrs=recipients
                )
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _smtp_error(min(codes), f"every recipient was refused: {exc.recipients}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            # The deployment's credentials, not the message, are wrong: retry once fixed.
            raise JobError(f"SMTP login failed: {exc.smtp_code} {exc.smtp_error!r}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc.smtp_code, f"SMTP {exc.smtp_code} {exc.smtp_error!r}") from exc
        return {
            "transport": "smtp",
            "message_id": str(message["Message-ID"]),
            "recipients": len(recipients) - len(refused),
            # Some recipients accepted, others refused: retrying would resend to the accepted.
            "refused": sorted(refused),
        }


def transport_for(settings: Settings) -> Transport:
    """The transport EMAIL_TRANSPORT names."""
    return SmtpTransport(settings) if settings.email_transport == "smtp" else SesTransport(settings)


def _smtp_error(code: int, text: str) -> JobError:
    return PermanentJobError(text) if 500 <= code < 600 else JobError(text)


def _timeout(remaining: float) -> float:
    return max(1.0, min(SMTP_TIMEOUT_SECONDS, remaining))
