"""Writing job output to S3, shared by the ``pdf`` and ``file_upload`` job types.

Keys are derived from the job id, so a re-run after a crash overwrites its own object instead
of adding another. S3 errors are sorted once here: a missing bucket or an outage is transient
(the job retries), a missing source object is permanent.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pydantic
from botocore.exceptions import ClientError

from common import aws
from common.config import Settings
from common.errors import JobError, PermanentJobError

PERMANENT_S3_ERRORS = frozenset({"NoSuchKey", "InvalidObjectState", "EntityTooLarge"})


class StoredObject(pydantic.BaseModel):
    """Where a job's output landed: the job's result."""

    bucket: str
    key: str
    bytes: int
    sha256: str
    etag: str


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def put_object(
    settings: Settings, key: str, data: bytes, *, content_type: str, job_id: int
) -> StoredObject:
    """Store ``data`` at ``key`` in the deployment's bucket; S3 checks it arrived intact."""
    digest = hashlib.sha256(data).digest()
    try:
        answer = aws.s3(settings).put_object(
            Bucket=settings.s3_bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ChecksumSHA256=base64.b64encode(digest).decode("ascii"),
            Metadata={"skiplock-job-id": str(job_id)},
        )
    except ClientError as exc:
        raise s3_error(exc, f"s3://{settings.s3_bucket}/{key}") from exc
    return StoredObject(
        bucket=settings.s3_bucket,
        key=key,
        bytes=len(data),
        sha256=digest.hex(),
        etag=str(answer["ETag"]).strip('"'),
    )


def s3_error(exc: ClientError, where: str) -> JobError:
    """The job error an S3 failure at ``where`` amounts to: permanent or worth a retry."""
    code = aws.error_code(exc)
    if code == "NoSuchBucket":
        return JobError(f"bucket of {where} does not exist (NoSuchBucket); will retry")
    if code in PERMANENT_S3_ERRORS:
        return PermanentJobError(f"{where}: {code}: {_message(exc.response)}")
    return JobError(f"{where}: {code or 'error'}: {_message(exc.response)}")


def _message(response: dict[str, Any]) -> str:
    return str(response.get("Error", {}).get("Message", ""))
