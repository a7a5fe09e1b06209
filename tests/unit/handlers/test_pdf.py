"""The ``pdf`` job type: a real PDF, stored in moto's S3 under a key derived from the job id."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from common.errors import PermanentJobError, ValidationError
from common.handlers.catalog import build_registry
from common.handlers.pdf import PdfFont, PdfPayload, find_font, render_pdf
from common.handlers.registry import JobType
from tests.cloud import cloud_settings, make_context, make_job, mocked_cloud

SETTINGS = cloud_settings()
PAYLOAD = {
    "title": "Quarterly report — Zürich",
    "paragraphs": ["Revenue grew by 12 %.", "Ελληνικά και кириллица work too."],
    "table": {
        "header": ["Region", "Units", "Price €"],
        "rows": [["Nord", 120, 9.5], ["Süd", 80, None]],
    },
}


@pytest.fixture
def pdf_type() -> JobType:
    return build_registry(SETTINGS).get("pdf")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_cloud(monkeypatch, SETTINGS) as client:
        yield client


def run(job_type: JobType, payload: dict[str, Any], job_id: int = 42) -> Any:
    job = make_job("pdf", job_type.parse_payload(payload), job_id=job_id)
    return job_type.handler(job, make_context())


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_pdf_is_rendered_and_stored_under_the_job_id(s3: Any, pdf_type: JobType) -> None:
    result = run(pdf_type, PAYLOAD, job_id=42)

    stored = s3.get_object(Bucket="skiplock-test", Key="pdf/42.pdf")
    data = stored["Body"].read()
    assert data.startswith(b"%PDF-")
    assert stored["ContentType"] == "application/pdf"
    assert result.model_dump() == {
        "bucket": "skiplock-test",
        "key": "pdf/42.pdf",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "etag": stored["ETag"].strip('"'),
    }
    text = pdf_text(data)
    for expected in ("Quarterly report — Zürich", "Revenue grew", "кириллица", "Süd", "Price €"):
        assert expected in text


def test_pdf_rerun_overwrites_its_object_with_the_same_bytes(s3: Any, pdf_type: JobType) -> None:
    first = run(pdf_type, PAYLOAD, job_id=5)
    second = run(pdf_type, PAYLOAD, job_id=5)

    listed = s3.list_objects_v2(Bucket="skiplock-test", Prefix="pdf/")["Contents"]
    assert [item["Key"] for item in listed] == ["pdf/5.pdf"]
    assert first == second


def test_pdf_is_transient_when_the_bucket_is_missing(s3: Any) -> None:
    pdf_type = build_registry(cloud_settings(s3_bucket="no-such-bucket")).get("pdf")

    with pytest.raises(Exception, match="NoSuchBucket") as raised:
        run(pdf_type, PAYLOAD)

    assert not isinstance(raised.value, PermanentJobError)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "payload.title"),
        ({"title": ""}, "payload.title"),
        ({"paragraphs": "one string"}, "payload.paragraphs"),
        ({"table": {"rows": []}}, "payload.table.rows"),
        ({"table": {"header": ["a", "b"], "rows": [["1"]]}}, "payload.table.rows"),
        ({"table": {"rows": [["1", "2"], ["3"]]}}, "payload.table.rows"),
        ({"table": {"rows": [[{"nested": 1}]]}}, "payload.table.rows.0.0"),
        ({"date": "2026-01-01T00:00:00"}, "payload.date"),
        ({"colour": "red"}, "payload.colour"),
    ],
)
def test_invalid_pdf_payload_names_the_field(
    pdf_type: JobType, change: dict[str, Any], field: str
) -> None:
    payload = {k: v for k, v in (PAYLOAD | change).items() if v is not None}

    with pytest.raises(ValidationError) as raised:
        pdf_type.parse_payload(payload)

    assert raised.value.field == field


def test_core_font_refuses_text_outside_latin_1_permanently() -> None:
    payload = PdfPayload.model_validate({"title": "Ωmega"})

    with pytest.raises(PermanentJobError, match="PDF_FONT_PATH"):
        render_pdf(payload, PdfFont(None))


def test_core_font_renders_latin_1() -> None:
    payload = PdfPayload.model_validate({"title": "Café", "table": {"rows": [["a", "b"]]}})

    assert "Café" in pdf_text(render_pdf(payload, PdfFont(None)))


def test_pdf_font_path_that_does_not_exist_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PDF_FONT_PATH"):
        find_font(cloud_settings(pdf_font_path=str(tmp_path / "missing.ttf")))
