"""AWS clients, made in one place: each honours the endpoint override and is made once.

In production no endpoint is set and boto3 talks to AWS. Locally AWS_ENDPOINT_URL (or the
per-service AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_SES) points at moto's server instead.
"""

from __future__ import annotations

import functools
from email.utils import parseaddr
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from common.config import Settings

Service = Literal["s3", "ses"]
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30
MAX_POOL_CONNECTIONS = 64


def endpoint_url(settings: Settings, service: Service) -> str | None:
    """The endpoint ``service`` is reached at: its own override, the general one, or AWS's."""
    own = settings.s3_endpoint_url if service == "s3" else settings.ses_endpoint_url
    return own or settings.aws_endpoint_url


def client(settings: Settings, service: Service) -> Any:
    """A boto3 client for ``service``, shared by every caller with the same region and endpoint."""
    return _client(service, settings.aws_region, endpoint_url(settings, service))


def s3(settings: Settings) -> Any:
    """The S3 client."""
    return client(settings, "s3")


def ses(settings: Settings) -> Any:
    """The SES (v1 API) client."""
    return client(settings, "ses")


def clear_clients() -> None:
    """Forget the cached clients (tests that change endpoints or credentials call this)."""
    _client.cache_clear()


def error_code(exc: ClientError) -> str:
    """The AWS error code of a failed call, e.g. ``NoSuchBucket`` or ``MessageRejected``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def prepare_local_cloud(settings: Settings) -> None:
    """Make the emulated cloud ready: create the bucket and verify the SES sender.

    Safe to call on every start: an existing bucket or identity is left as it is. Meant for
    moto; against real AWS the bucket and identity are provisioned by the infrastructure.
    """
    bucket_args: dict[str, Any] = {"Bucket": settings.s3_bucket}
    if settings.aws_region != "us-east-1":  # us-east-1 rejects an explicit location
        bucket_args["CreateBucketConfiguration"] = {"LocationConstraint": settings.aws_region}
    try:
        s3(settings).create_bucket(**bucket_args)
    except ClientError as exc:
        if error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise
    ses(settings).verify_email_identity(EmailAddress=parseaddr(settings.ses_sender)[1])


@functools.lru_cache(maxsize=16)
def _client(service: Service, region: str, endpoint: str | None) -> Any:
    # A session per client: boto3's default session is not safe to share between threads.
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "max_attempts": 3},
        # One client serves every job a tick runs at once (WORKER_CONCURRENCY): let each keep
        # its connection rather than queue for botocore's default of 10.
        max_pool_connections=MAX_POOL_CONNECTIONS,
        # Emulators answer at one host, so "bucket.host" virtual addressing cannot reach them.
        s3={"addressing_style": "path"} if endpoint else None,
    )
    return boto3.session.Session().client(
        service, region_name=region, endpoint_url=endpoint, config=config
    )
