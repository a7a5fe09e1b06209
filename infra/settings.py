"""How each setting reaches the functions in the cloud: the one table both deployments read.

Every setting that ``common.config.Settings.from_env`` reads is in ``CLOUD`` exactly once, as

- ``PARAMETER``: the deployer sets it: a stack parameter on AWS (``LEASE_SECONDS`` ->
  ``LeaseSeconds``), a Terraform variable on Google Cloud (``lease_seconds``), each defaulting
  to the Settings default;
- ``Secret(...)``: a generated secret the functions read at start (on AWS a Secrets Manager
  secret ``<Name>Secret``, passed as ``<NAME>_SECRET_ARN``; on Google Cloud a Secret Manager
  secret); a deployer puts their own value in it;
- ``Fixed(...)``: set by the deployment itself, or left unset there, with the reason.

A setting added to config.py and not here fails the generators (`python -m infra.aws`,
`python -m infra.gcp`) and tests/infra/test_cloud_settings.py: mapping it is one line below.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from common.config import DEFAULTS, Settings


@dataclass(frozen=True)
class Parameter:
    """A setting the deployer chooses. ``name`` overrides the derived AWS parameter name;
    ``allowed`` lists its only values; ``required`` ones have no default."""

    name: str | None = None
    allowed: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class Secret:
    """A secret setting. ``needed_by`` says which functions read it: ``all``, those of a
    trigger (``schedule``) or those that use a resource (``email``). ``gcp``, when given,
    says how the Google Cloud deployment handles it instead of a secret of its own."""

    description: str
    needed_by: str = "all"
    gcp: str | None = None


@dataclass(frozen=True)
class Fixed:
    """A setting the deployment sets (or leaves unset) itself, and why, per cloud."""

    aws: str
    gcp: str


PARAMETER = Parameter()
_BUCKET = "the deployment's own bucket"

CLOUD: dict[str, Parameter | Secret | Fixed] = {
    "DATABASE_URL": Fixed(
        aws="made at cold start from DatabaseSecret and the RDS instance's endpoint",
        gcp="the skiplock-database-url secret, made from the Cloud SQL user and address",
    ),
    "DATABASE_CONNECT_TIMEOUT_SECONDS": PARAMETER,
    "DATABASE_READ_TIMEOUT_SECONDS": PARAMETER,
    "API_TOKEN": Secret(
        "Bearer token of API clients",
        gcp="the skiplock-api-token secret, given to the HTTP functions only",
    ),
    "SCHEDULER_TOKEN": Secret(
        "Bearer token of the scheduled ticks",
        needed_by="schedule",
        gcp="unset: Cloud Run checks the scheduler's OIDC token before a tick runs",
    ),
    "LEASE_SECONDS": PARAMETER,
    "BACKOFF_BASE_SECONDS": PARAMETER,
    "BACKOFF_MAX_SECONDS": PARAMETER,
    "BACKOFF_JITTER": PARAMETER,
    "MAX_ATTEMPTS": PARAMETER,
    "WORKER_BATCH_SIZE": PARAMETER,
    "WORKER_CONCURRENCY": PARAMETER,
    "WORKER_BUDGET_SECONDS": PARAMETER,
    "WORKER_HTTP_BUDGET_SECONDS": PARAMETER,
    "WORKER_POLL_SECONDS": PARAMETER,
    "SCHEDULE_BUDGET_SECONDS": PARAMETER,
    "MAX_PAYLOAD_BYTES": PARAMETER,
    "REQUEST_BODY_SECONDS": PARAMETER,
    "RETENTION_SECONDS": PARAMETER,
    "BUILTIN_JOB_TYPES": PARAMETER,
    "JOB_MODULES": PARAMETER,
    "AWS_REGION": Fixed(
        aws="set by Lambda to the stack's region",
        gcp="auto: what Cloud Storage's S3 API takes",
    ),
    "AWS_ENDPOINT_URL": Fixed(aws="unset: AWS's own endpoints", gcp="unset"),
    "AWS_ENDPOINT_URL_S3": Fixed(
        aws="unset: AWS's own endpoint", gcp="https://storage.googleapis.com (its S3 API)"
    ),
    "AWS_ENDPOINT_URL_SES": Fixed(
        aws="unset: AWS's own endpoint", gcp="unset: there is no SES on Google Cloud"
    ),
    "S3_BUCKET": Fixed(aws=_BUCKET, gcp=_BUCKET),
    "SES_SENDER": Parameter(name="SesSender", required=True),
    "EMAIL_TRANSPORT": Parameter(allowed=("ses", "smtp")),
    "SMTP_HOST": PARAMETER,
    "SMTP_PORT": PARAMETER,
    "SMTP_USERNAME": PARAMETER,
    "SMTP_PASSWORD": Secret("SMTP password, with EMAIL_TRANSPORT=smtp", needed_by="email"),
    "SMTP_STARTTLS": PARAMETER,
    "UPLOAD_MAX_BYTES": PARAMETER,
    "PDF_FONT_PATH": PARAMETER,
    "RECURRING_FILE": PARAMETER,
    "WEBHOOK_SECRET": Secret("the HMAC-SHA256 key that signs completion webhooks"),
    "WEBHOOK_ALLOW_PRIVATE": PARAMETER,
    "LOG_FORMAT": Parameter(allowed=("text", "json")),
    "LOG_LEVEL": Parameter(allowed=("DEBUG", "INFO", "WARNING", "ERROR")),
}


def setting_names() -> tuple[str, ...]:
    """Every environment variable Settings.from_env reads, in the order it reads them."""
    read: list[str] = []

    class Recorder(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            read.append(key)
            return default

    Settings.from_env(Recorder())
    return tuple(read)


def check() -> None:
    """Raise ValueError unless CLOUD maps every setting, and only settings."""
    names = setting_names()
    missing = [name for name in names if name not in CLOUD]
    unknown = sorted(set(CLOUD) - set(names))
    if missing or unknown:
        raise ValueError(
            f"infra/settings.py CLOUD must map every setting of common/config.py, and only"
            f" those: add {missing} (a PARAMETER, a Secret or Fixed), remove {unknown}"
        )
    for name, source in CLOUD.items():
        if isinstance(source, Parameter) and not hasattr(DEFAULTS, field(name)):
            raise ValueError(f"{name}: a parameter needs the Settings field {field(name)}")


def field(name: str) -> str:
    """The Settings field of the setting ``name`` (``LEASE_SECONDS`` -> ``lease_seconds``)."""
    return name.lower()


def default(name: str) -> Any:
    """The setting's default, as Settings gives it."""
    return getattr(DEFAULTS, field(name))


def parameters() -> Iterator[tuple[str, Parameter]]:
    """The settings a deployer chooses, in config.py's order."""
    check()
    for name in setting_names():
        source = CLOUD[name]
        if isinstance(source, Parameter):
            yield name, source


def secrets() -> Iterator[tuple[str, Secret]]:
    """The secret settings, in config.py's order."""
    check()
    for name in setting_names():
        source = CLOUD[name]
        if isinstance(source, Secret):
            yield name, source


def as_text(value: Any) -> str:
    """A default as an environment variable spells it (``True`` -> ``true``, ``()`` -> "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
