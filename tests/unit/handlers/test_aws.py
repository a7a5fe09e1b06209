"""AWS clients from one place: endpoint overrides, caching, and preparing the local cloud."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from common import aws
from common.config import Settings
from common.handlers.catalog import build_registry
from tests.cloud import (
    AWS_ENDPOINT_VARIABLES,
    cloud_settings,
    make_context,
    make_job,
    mocked_cloud,
    sent_messages,
)


@pytest.mark.parametrize(
    ("env", "s3", "ses"),
    [
        ({}, None, None),
        ({"AWS_ENDPOINT_URL": "http://all:1"}, "http://all:1", "http://all:1"),
        (
            {"AWS_ENDPOINT_URL": "http://all:1", "AWS_ENDPOINT_URL_S3": "http://s3:2"},
            "http://s3:2",
            "http://all:1",
        ),
        ({"AWS_ENDPOINT_URL_SES": "http://ses:3"}, None, "http://ses:3"),
    ],
)
def test_endpoint_url_prefers_the_service_override(
    env: dict[str, str], s3: str | None, ses: str | None
) -> None:
    settings = Settings.from_env(env)

    assert (aws.endpoint_url(settings, "s3"), aws.endpoint_url(settings, "ses")) == (s3, ses)


def test_clients_are_made_once_per_service_region_and_endpoint() -> None:
    aws.clear_clients()
    here = cloud_settings(aws_endpoint_url="http://127.0.0.1:9")
    try:
        assert aws.s3(here) is aws.s3(cloud_settings(aws_endpoint_url="http://127.0.0.1:9"))
        assert aws.s3(here) is not aws.ses(here)
        assert aws.s3(here) is not aws.s3(cloud_settings(aws_endpoint_url="http://127.0.0.1:8"))
        assert aws.s3(here) is not aws.s3(cloud_settings(aws_region="eu-west-1"))
    finally:
        aws.clear_clients()


def test_prepare_local_cloud_can_run_again_and_outside_us_east_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = cloud_settings(aws_region="eu-west-1")
    with mocked_cloud(monkeypatch, settings) as s3:
        aws.prepare_local_cloud(settings)

        location = s3.get_bucket_location(Bucket="skiplock-test")["LocationConstraint"]
        identities = aws.ses(settings).list_identities()["Identities"]
    assert location == "eu-west-1"
    assert identities == ["jobs@example.com"]


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto as a real HTTP server on 127.0.0.1, as the local stack runs it."""
    for name in AWS_ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    aws.clear_clients()
    try:
        yield url
    finally:
        aws.clear_clients()
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
        server.stop()


def test_handlers_reach_the_endpoint_override(moto_server: str) -> None:
    settings = cloud_settings(aws_endpoint_url=moto_server, aws_region="eu-central-1")
    aws.prepare_local_cloud(settings)
    registry = build_registry(settings)
    pdf_type, email_type = registry.get("pdf"), registry.get("email")

    stored = pdf_type.handler(
        make_job("pdf", pdf_type.parse_payload({"title": "Over HTTP"})), make_context()
    )
    email_type.handler(
        make_job(
            "email", email_type.parse_payload({"to": "a@example.com", "subject": "s", "text": "t"})
        ),
        make_context(),
    )

    head = aws.s3(settings).head_object(Bucket="skiplock-test", Key="pdf/42.pdf")
    assert head["ContentLength"] == stored.bytes
    [(_, message)] = sent_messages("eu-central-1")
    assert message["To"] == "a@example.com"
