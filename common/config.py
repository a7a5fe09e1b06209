"""Settings: one frozen object, read from the environment in one place."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar

from common.db import Timeouts
from common.retry import BackoffPolicy

T = TypeVar("T")


def _read(env: Mapping[str, str], name: str, default: T, parse: Callable[[str], T]) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ValueError(f"setting {name}={raw!r} is invalid: {exc}") from None


def _flag(raw: str) -> bool:
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _names(raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _positive(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("expected a number of seconds above 0")
    return value


def _optional(raw: str) -> str | None:
    return raw or None


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in {c.lower() for c in choices}:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return next(c for c in choices if c.lower() == raw.lower())

    return parse


def _email_transport(raw: str) -> str:
    if raw.lower() not in {"ses", "smtp"}:
        raise ValueError("expected ses or smtp")
    return raw.lower()


@dataclass(frozen=True)
class Settings:
    """Every setting skiplock reads, with its default. README.md lists them all."""

    database_url: str = "sqlite:///skiplock.db"
    database_connect_timeout_seconds: float = Timeouts.connect_seconds
    database_read_timeout_seconds: float = Timeouts.read_seconds
    api_token: str | None = None
    scheduler_token: str | None = None
    lease_seconds: float = 120.0
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 3600.0
    backoff_jitter: float = 0.1
    max_attempts: int = 5
    worker_batch_size: int = 10
    worker_concurrency: int = 10
    worker_budget_seconds: float = 50.0
    # What a /ticks/work that names no budget gets: an HTTP caller waits for the answer, and
    # API Gateway cuts a request at 30 s.
    worker_http_budget_seconds: float = 25.0
    worker_poll_seconds: float = 0.05
    schedule_budget_seconds: float = 20.0
    max_payload_bytes: int = 256 * 1024
    # How long a request's body may take to arrive: a slow client must not hold a thread.
    request_body_seconds: float = 30.0
    retention_seconds: float = 7 * 24 * 3600.0
    builtin_job_types: bool = True
    job_modules: tuple[str, ...] = ()
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    s3_endpoint_url: str | None = None
    ses_endpoint_url: str | None = None
    s3_bucket: str = "skiplock-local"
    ses_sender: str = "skiplock@example.com"
    email_transport: str = "ses"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = False
    upload_max_bytes: int = 25 * 1024 * 1024
    pdf_font_path: str | None = None
    recurring_file: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_allow_private: bool = False
    log_format: str = "text"
    log_level: str = "INFO"

    @property
    def database_timeouts(self) -> Timeouts:
        return Timeouts(self.database_connect_timeout_seconds, self.database_read_timeout_seconds)

    @property
    def backoff(self) -> BackoffPolicy:
        return BackoffPolicy(
            self.backoff_base_seconds, self.backoff_max_seconds, self.backoff_jitter
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: the process environment)."""
        e = os.environ if env is None else env
        d = cls()
        return cls(
            database_url=_read(e, "DATABASE_URL", d.database_url, str),
            database_connect_timeout_seconds=_read(
                e,
                "DATABASE_CONNECT_TIMEOUT_SECONDS",
                d.database_connect_timeout_seconds,
                _positive,
            ),
            database_read_timeout_seconds=_read(
                e, "DATABASE_READ_TIMEOUT_SECONDS", d.database_read_timeout_seconds, _positive
            ),
            api_token=_read(e, "API_TOKEN", d.api_token, _optional),
            scheduler_token=_read(e, "SCHEDULER_TOKEN", d.scheduler_token, _optional),
            lease_seconds=_read(e, "LEASE_SECONDS", d.lease_seconds, float),
            backoff_base_seconds=_read(e, "BACKOFF_BASE_SECONDS", d.backoff_base_seconds, float),
            backoff_max_seconds=_read(e, "BACKOFF_MAX_SECONDS", d.backoff_max_seconds, float),
            backoff_jitter=_read(e, "BACKOFF_JITTER", d.backoff_jitter, float),
            max_attempts=_read(e, "MAX_ATTEMPTS", d.max_attempts, int),
            worker_batch_size=_read(e, "WORKER_BATCH_SIZE", d.worker_batch_size, int),
            worker_concurrency=_read(e, "WORKER_CONCURRENCY", d.worker_concurrency, int),
            worker_budget_seconds=_read(e, "WORKER_BUDGET_SECONDS", d.worker_budget_seconds, float),
            worker_http_budget_seconds=_read(
                e, "WORKER_HTTP_BUDGET_SECONDS", d.worker_http_budget_seconds, float
            ),
            worker_poll_seconds=_read(e, "WORKER_POLL_SECONDS", d.worker_poll_seconds, float),
            schedule_budget_seconds=_read(
                e, "SCHEDULE_BUDGET_SECONDS", d.schedule_budget_seconds, float
            ),
            max_payload_bytes=_read(e, "MAX_PAYLOAD_BYTES", d.max_payload_bytes, int),
            request_body_seconds=_read(e, "REQUEST_BODY_SECONDS", d.request_body_seconds, float),
            retention_seconds=_read(e, "RETENTION_SECONDS", d.retention_seconds, float),
            builtin_job_types=_read(e, "BUILTIN_JOB_TYPES", d.builtin_job_types, _flag),
            job_modules=_read(e, "JOB_MODULES", d.job_modules, _names),
            aws_region=_read(e, "AWS_REGION", d.aws_region, str),
            aws_endpoint_url=_read(e, "AWS_ENDPOINT_URL", d.aws_endpoint_url, _optional),
            s3_endpoint_url=_read(e, "AWS_ENDPOINT_URL_S3", d.s3_endpoint_url, _optional),
            ses_endpoint_url=_read(e, "AWS_ENDPOINT_URL_SES", d.ses_endpoint_url, _optional),
            s3_bucket=_read(e, "S3_BUCKET", d.s3_bucket, str),
            ses_sender=_read(e, "SES_SENDER", d.ses_sender, str),
            email_transport=_read(e, "EMAIL_TRANSPORT", d.email_transport, _email_transport),
            smtp_host=_read(e, "SMTP_HOST", d.smtp_host, str),
            smtp_port=_read(e, "SMTP_PORT", d.smtp_port, int),
            smtp_username=_read(e, "SMTP_USERNAME", d.smtp_username, _optional),
            smtp_password=_read(e, "SMTP_PASSWORD", d.smtp_password, _optional),
            smtp_starttls=_read(e, "SMTP_STARTTLS", d.smtp_starttls, _flag),
            upload_max_bytes=_read(e, "UPLOAD_MAX_BYTES", d.upload_max_bytes, int),
            pdf_font_path=_read(e, "PDF_FONT_PATH", d.pdf_font_path, _optional),
            recurring_file=_read(e, "RECURRING_FILE", d.recurring_file, _optional),
            webhook_secret=_read(e, "WEBHOOK_SECRET", d.webhook_secret, _optional),
            webhook_allow_private=_read(e, "WEBHOOK_ALLOW_PRIVATE", d.webhook_allow_private, _flag),
            log_format=_read(e, "LOG_FORMAT", d.log_format, _one_of("text", "json")),
            log_level=_read(
                e, "LOG_LEVEL", d.log_level, _one_of("DEBUG", "INFO", "WARNING", "ERROR")
            ),
        )


DEFAULTS = Settings()  # what every setting is when the environment says nothing


@cache
def current_settings() -> Settings:
    """The process's settings, read from its environment once, on first use."""
    return Settings.from_env()
