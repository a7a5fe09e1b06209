"""Where a finished job's output went: a link to the object a ``pdf`` or ``file_upload`` job
stored (a presigned URL, against the local moto or the real S3), or the message id of an
``email`` job's message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common import aws
from common.config import Settings

LINK_SECONDS = 3600
STORING_TYPES = ("pdf", "file_upload")


@dataclass(frozen=True)
class Output:
    """What a person can open or look up: ``url`` for an object, else ``message_id``."""

    label: str
    url: str | None = None
    message_id: str | None = None


def output_of(settings: Settings, job: dict[str, Any]) -> Output | None:
    """The output of ``job`` (a row of common.queries.get_job), if it has one to show."""
    result = job.get("result")
    if job.get("status") != "SUCCESS" or not isinstance(result, dict):
        return None
    if job.get("type") in STORING_TYPES and {"bucket", "key"} <= set(result):
        return Output(f"s3://{result['bucket']}/{result['key']}", url=object_url(settings, result))
    if job.get("type") == "email" and result.get("message_id"):
        return Output("message id", message_id=str(result["message_id"]))
    return None


def object_url(settings: Settings, where: dict[str, Any]) -> str:
    """A URL that fetches the object ``where`` names for LINK_SECONDS, without credentials."""
    return str(
        aws.s3(settings).generate_presigned_url(
            "get_object",
            Params={"Bucket": where["bucket"], "Key": where["key"]},
            ExpiresIn=LINK_SECONDS,
        )
    )
