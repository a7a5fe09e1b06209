"""What the Lambda adapter does besides serving requests: reading its secrets at cold start,
and the migration custom resource that CloudFormation runs once per deploy (on MariaDB)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import inspect, make_url, text

from common.db import make_engine
from functions import aws_lambda
from tests.infra.adapter import API_TOKEN, reset_caches, via_lambda

REGION = "us-east-1"
SECRET_VARIABLES = ("API_TOKEN", "SCHEDULER_TOKEN", "SMTP_PASSWORD", "DATABASE_URL")


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto Secrets Manager, and no settings in the environment that secrets would fill."""
    for name in SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def put(client: Any, value: str) -> str:
    return str(client.create_secret(Name=uuid.uuid4().hex, SecretString=value)["ARN"])


def test_secrets_fill_the_tokens_and_the_database_url(secrets: Any) -> None:
    env = {
        "API_TOKEN_SECRET_ARN": put(secrets, "api"),
        "SCHEDULER_TOKEN_SECRET_ARN": put(secrets, "scheduler"),
        "DATABASE_SECRET_ARN": put(secrets, json.dumps({"username": "u", "password": "p@:/%w"})),
        "DATABASE_HOST": "db.example.internal",
        "DATABASE_PORT": "3306",
        "DATABASE_NAME": "skiplock",
    }
    aws_lambda.load_secrets(env)
    assert (env["API_TOKEN"], env["SCHEDULER_TOKEN"]) == ("api", "scheduler")
    url = make_url(env["DATABASE_URL"])
    assert (url.drivername, url.username, url.password) == ("mysql+pymysql", "u", "p@:/%w")
    assert (url.host, url.port, url.database) == ("db.example.internal", 3306, "skiplock")


def test_every_secret_setting_the_template_passes_is_filled(secrets: Any) -> None:
    env = {f"{setting}_SECRET_ARN": put(secrets, setting.lower()) for setting in SECRET_VARIABLES}
    del env["DATABASE_URL_SECRET_ARN"]  # the database's secret is DATABASE_SECRET_ARN
    env["EMPTY_SECRET_ARN"] = ""  # an ARN left empty names no secret
    aws_lambda.load_secrets(env)
    assert {s: env[s] for s in SECRET_VARIABLES[:-1]} == {
        "API_TOKEN": "api_token",
        "SCHEDULER_TOKEN": "scheduler_token",
        "SMTP_PASSWORD": "smtp_password",
    }
    assert "EMPTY" not in env and "DATABASE_URL" not in env


def test_a_variable_already_set_is_kept() -> None:
    env = {"API_TOKEN": "given", "API_TOKEN_SECRET_ARN": "arn:unused"}
    aws_lambda.load_secrets(env, client=object())  # a client that cannot be called
    assert env["API_TOKEN"] == "given"


def test_a_cold_start_with_only_secret_arns_serves_requests(
    secrets: Any, database_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(database_urls["mariadb"])
    account = {"username": url.username, "password": url.password or ""}
    for name, value in {
        "API_TOKEN_SECRET_ARN": put(secrets, API_TOKEN),
        "DATABASE_SECRET_ARN": put(secrets, json.dumps(account)),
        "DATABASE_HOST": str(url.host),
        "DATABASE_PORT": str(url.port or 3306),
        "DATABASE_NAME": str(url.database),
    }.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    try:
        status, body = via_lambda("GET", "/jobs", token=API_TOKEN, query={"limit": "1"})
        assert (status, sorted(body)) == (200, ["jobs", "next_cursor"])
        assert via_lambda("GET", "/jobs", token="wrong")[0] == 401
    finally:
        reset_caches()


class _CloudFormation(BaseHTTPRequestHandler):
    """Stands in for the presigned S3 URL a custom resource answers to."""

    answers: ClassVar[list[dict[str, Any]]] = []

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).answers.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def cloudformation() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local URL to answer to, and the answers it received."""
    server = HTTPServer(("127.0.0.1", 0), _CloudFormation)
    _CloudFormation.answers = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/answer", _CloudFormation.answers
    server.shutdown()
    server.server_close()


def custom_resource_event(request_type: str, response_url: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/skiplock/1",
        "RequestId": uuid.uuid4().hex,
        "LogicalResourceId": "DatabaseMigration",
        "ResourceType": "Custom::DatabaseMigration",
        "ResourceProperties": {"ArtifactKey": "skiplock/abc.zip"},
    }


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_migration_upgrades_on_create_and_update_and_keeps_the_database_on_delete(
    empty_mariadb: str, cloudformation: tuple[str, list[dict[str, Any]]], monkeypatch: Any
) -> None:
    response_url, answers = cloudformation
    monkeypatch.setenv("DATABASE_URL", empty_mariadb)
    for request_type in ("Create", "Update", "Delete"):
        aws_lambda.migrate_database(custom_resource_event(request_type, response_url), None)
    assert [a["Status"] for a in answers] == ["SUCCESS"] * 3, answers
    assert {a["PhysicalResourceId"] for a in answers} == {"skiplock-database-migration"}
    assert {"jobs", "job_attempts", "alembic_version"} <= tables(empty_mariadb)


def test_a_failed_migration_is_reported_to_cloudformation(
    cloudformation: tuple[str, list[dict[str, Any]]], monkeypatch: Any
) -> None:
    response_url, answers = cloudformation
    monkeypatch.setenv("DATABASE_URL", "mysql+pymysql://root@127.0.0.1:1/nothing")
    aws_lambda.migrate_database(custom_resource_event("Create", response_url), None)
    assert answers[0]["Status"] == "FAILED"
    assert "OperationalError" in answers[0]["Reason"]
    assert answers[0]["LogicalResourceId"] == "DatabaseMigration"


def test_a_database_newer_than_the_code_is_left_alone_on_a_rollback(
    empty_mariadb: str, cloudformation: tuple[str, list[dict[str, Any]]], monkeypatch: Any
) -> None:
    response_url, answers = cloudformation
    monkeypatch.setenv("DATABASE_URL", empty_mariadb)
    aws_lambda.migrate_database(custom_resource_event("Create", response_url), None)
    engine = make_engine(empty_mariadb)
    with engine.begin() as conn:  # as if a later deploy had migrated further
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    engine.dispose()
    aws_lambda.migrate_database(custom_resource_event("Update", response_url), None)
    assert answers[-1]["Status"] == "SUCCESS"
    assert "from_the_future" in answers[-1]["Reason"]
