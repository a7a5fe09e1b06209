"""The ``file_upload`` job type: put content into S3, from the payload or from another object.

The key is ``uploads/<job id>/<filename>``, so a re-run after a crash writes the same bytes
to the same key: the upload is idempotent. Content over UPLOAD_MAX_BYTES, or whose SHA-256
differs from the one the payload gives, fails at once (to the DLQ): retrying cannot fix it.
"""

from __future__ import annotations

import base64
import binascii
import functools

import pydantic
import pydantic_core
from botocore.exceptions import ClientError

from common import aws
from common.config import Settings
from common.errors import PermanentJobError
from common.handlers.registry import Job, JobContext, Registry
from common.handlers.storage import StoredObject, put_object, s3_error, sha256_hex

DEFAULT_CONTENT_TYPE = "application/octet-stream"
TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
CONTENT_TYPE = rf"^{TOKEN}/{TOKEN}(; ?{TOKEN}=(?:{TOKEN}|\"[^\"\\\r\n]*\"))*$"


class S3Source(pydantic.BaseModel):
    """An object to copy from; the bucket defaults to the deployment's own (S3_BUCKET)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    bucket: str | None = pydantic.Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    key: str = pydantic.Field(min_length=1, max_length=1024)


class UploadPayload(pydantic.BaseModel):
    """What the ``file_upload`` job type stores: ``content_base64`` or ``source``, not both."""

    model_config = pydantic.ConfigDict(extra="forbid")
    filename: str = pydantic.Field(default="file", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
    content_type: str | None = pydantic.Field(default=None, pattern=CONTENT_TYPE, max_length=255)
    content_base64: str | None = None
    source: S3Source | None = pydantic.Field(default=None, validate_default=True)
    sha256: str | None = pydantic.Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")

    @pydantic.field_validator("content_base64")
    @classmethod
    def _is_base64(cls, value: str | None) -> str | None:
        if value is not None:
            _decode(value)
        return value

    @pydantic.field_validator("source")
    @classmethod
    def _one_origin(cls, source: S3Source | None, info: pydantic.ValidationInfo) -> S3Source | None:
        if (source is None) == (info.data.get("content_base64") is None):
            raise pydantic_core.PydanticCustomError(
                "one_origin", "give either content_base64 or source, not both or neither"
            )
        return source


def _decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise pydantic_core.PydanticCustomError(
            "base64", "must be standard base64 (A-Z a-z 0-9 + /, padded with =)"
        ) from None


def upload_file(job: Job, ctx: JobContext, *, settings: Settings) -> StoredObject:
    """Store the job's content at ``uploads/<job id>/<filename>``, checked against its sha256."""
    payload: UploadPayload = job.payload
    if payload.source is not None:
        data, source_type = _read_source(settings, payload.source)
    else:
        data, source_type = _decode(payload.content_base64 or ""), None
    _check_size(len(data), settings.upload_max_bytes)
    digest = sha256_hex(data)
    if payload.sha256 and payload.sha256.lower() != digest:
        raise PermanentJobError(f"sha256 mismatch: the payload says {payload.sha256}, got {digest}")
    key = f"uploads/{job.id}/{payload.filename}"
    content_type = payload.content_type or source_type or DEFAULT_CONTENT_TYPE
    stored = put_object(settings, key, data, content_type=content_type, job_id=job.id)
    ctx.logger.info("job %s: stored %s bytes at %s", job.id, stored.bytes, key)
    return stored


def _read_source(settings: Settings, source: S3Source) -> tuple[bytes, str | None]:
    bucket = source.bucket or settings.s3_bucket
    try:
        answer = aws.s3(settings).get_object(Bucket=bucket, Key=source.key)
    except ClientError as exc:
        raise s3_error(exc, f"s3://{bucket}/{source.key}") from exc
    body = answer["Body"]
    try:
        _check_size(int(answer["ContentLength"]), settings.upload_max_bytes)
        # Never trust a length header with memory: read at most one byte past the limit.
        data: bytes = body.read(settings.upload_max_bytes + 1)
    finally:
        body.close()
    return data, answer.get("ContentType")


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise PermanentJobError(f"content of {size} bytes is over UPLOAD_MAX_BYTES ({limit})")


def register(registry: Registry, settings: Settings) -> None:
    """Declare the ``file_upload`` job type."""
    handler = functools.partial(upload_file, settings=settings)
    registry.job_type("file_upload", payload=UploadPayload, timeout_seconds=30)(handler)
