"""The ``file_upload`` job type: content from the payload or another object, into moto's S3."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from common.errors import PermanentJobError, ValidationError
from common.handlers.catalog import build_registry
from common.handlers.registry import JobType
from tests.cloud import cloud_settings, make_context, make_job, mocked_cloud

SETTINGS = cloud_settings(upload_max_bytes=1000)
CONTENT = "naïve café\n".encode()
SHA256 = hashlib.sha256(CONTENT).hexdigest()
INLINE = {
    "filename": "notes.txt",
    "content_type": "text/plain; charset=utf-8",
    "content_base64": base64.b64encode(CONTENT).decode(),
    "sha256": SHA256.upper(),
}


@pytest.fixture
def upload_type() -> JobType:
    return build_registry(SETTINGS).get("file_upload")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_cloud(monkeypatch, SETTINGS) as client:
        yield client


def run(job_type: JobType, payload: dict[str, Any], job_id: int = 42) -> Any:
    job = make_job("file_upload", job_type.parse_payload(payload), job_id=job_id)
    return job_type.handler(job, make_context())


def keys(s3: Any, bucket: str = "skiplock-test") -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_inline_content_is_stored_under_the_job_id(s3: Any, upload_type: JobType) -> None:
    result = run(upload_type, INLINE, job_id=42)

    stored = s3.get_object(Bucket="skiplock-test", Key="uploads/42/notes.txt")
    assert stored["Body"].read() == CONTENT
    assert stored["ContentType"] == "text/plain; charset=utf-8"
    assert stored["Metadata"] == {"skiplock-job-id": "42"}
    assert result.model_dump() == {
        "bucket": "skiplock-test",
        "key": "uploads/42/notes.txt",
        "bytes": len(CONTENT),
        "sha256": SHA256,
        "etag": stored["ETag"].strip('"'),
    }


def test_rerun_overwrites_the_same_object(s3: Any, upload_type: JobType) -> None:
    assert run(upload_type, INLINE, job_id=3) == run(upload_type, INLINE, job_id=3)

    assert keys(s3) == ["uploads/3/notes.txt"]


def test_object_is_copied_from_another_bucket_with_its_content_type(
    s3: Any, upload_type: JobType
) -> None:
    s3.create_bucket(Bucket="incoming")
    s3.put_object(Bucket="incoming", Key="a/b.csv", Body=CONTENT, ContentType="text/csv")

    result = run(
        upload_type, {"source": {"bucket": "incoming", "key": "a/b.csv"}, "sha256": SHA256}
    )

    stored = s3.get_object(Bucket="skiplock-test", Key="uploads/42/file")
    assert stored["Body"].read() == CONTENT
    assert stored["ContentType"] == "text/csv"
    assert result.sha256 == SHA256


def test_object_is_copied_from_the_own_bucket_by_default(s3: Any, upload_type: JobType) -> None:
    s3.put_object(Bucket="skiplock-test", Key="in/x.bin", Body=CONTENT)

    run(upload_type, {"source": {"key": "in/x.bin"}, "filename": "x.bin"})

    assert keys(s3) == ["in/x.bin", "uploads/42/x.bin"]


def test_checksum_mismatch_is_permanent_and_stores_nothing(s3: Any, upload_type: JobType) -> None:
    with pytest.raises(PermanentJobError, match="sha256 mismatch"):
        run(upload_type, INLINE | {"sha256": "0" * 64})

    assert keys(s3) == []


def test_inline_content_over_the_size_limit_is_permanent(s3: Any, upload_type: JobType) -> None:
    big = base64.b64encode(b"x" * 1001).decode()

    with pytest.raises(PermanentJobError, match=r"1001 bytes is over UPLOAD_MAX_BYTES \(1000\)"):
        run(upload_type, {"content_base64": big})

    assert keys(s3) == []


def test_source_over_the_size_limit_is_permanent(s3: Any, upload_type: JobType) -> None:
    s3.put_object(Bucket="skiplock-test", Key="big", Body=b"x" * 5000)

    with pytest.raises(PermanentJobError, match="UPLOAD_MAX_BYTES"):
        run(upload_type, {"source": {"key": "big"}})

    assert keys(s3) == ["big"]


def test_missing_source_object_is_permanent(s3: Any, upload_type: JobType) -> None:
    with pytest.raises(PermanentJobError, match="NoSuchKey"):
        run(upload_type, {"source": {"key": "nothing/here"}})


def test_missing_bucket_is_transient(s3: Any) -> None:
    upload_type = build_registry(cloud_settings(s3_bucket="no-such-bucket")).get("file_upload")

    with pytest.raises(Exception, match="NoSuchBucket") as raised:
        run(upload_type, INLINE)

    assert not isinstance(raised.value, PermanentJobError)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "payload.source"),
        (INLINE | {"source": {"key": "k"}}, "payload.source"),
        ({"content_base64": "not base64!"}, "payload.content_base64"),
        ({"source": {"key": ""}}, "payload.source.key"),
        ({"source": {"key": "k", "bucket": "Bad_Bucket"}}, "payload.source.bucket"),
        (INLINE | {"filename": "../etc/passwd"}, "payload.filename"),
        (INLINE | {"filename": "a/b"}, "payload.filename"),
        (INLINE | {"content_type": "text"}, "payload.content_type"),
        (INLINE | {"sha256": "abc"}, "payload.sha256"),
        (INLINE | {"key": "mine"}, "payload.key"),
    ],
)
def test_invalid_upload_payload_names_the_field(
    upload_type: JobType, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        upload_type.parse_payload(payload)

    assert raised.value.field == field
