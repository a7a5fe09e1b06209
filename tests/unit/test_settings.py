"""Settings.from_env: defaults, parsing, and errors that name the setting."""

from __future__ import annotations

import pytest

from common.config import Settings
from common.retry import BackoffPolicy


def test_an_empty_environment_gives_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_blank_values_count_as_unset() -> None:
    assert Settings.from_env({"LEASE_SECONDS": "  ", "API_TOKEN": ""}) == Settings()


def test_the_engine_settings_are_read_from_their_variables() -> None:
    env = {
        "DATABASE_URL": "mysql+pymysql://root@127.0.0.1/test",
        "API_TOKEN": "api",
        "SCHEDULER_TOKEN": "cron",
        "LEASE_SECONDS": "30",
        "BACKOFF_BASE_SECONDS": "2.5",
        "BACKOFF_MAX_SECONDS": "60",
        "BACKOFF_JITTER": "0",
        "MAX_ATTEMPTS": "3",
        "WORKER_BATCH_SIZE": "20",
        "WORKER_BUDGET_SECONDS": "10",
        "WORKER_POLL_SECONDS": "0.5",
        "MAX_PAYLOAD_BYTES": "1024",
        "RETENTION_SECONDS": "3600",
        "BUILTIN_JOB_TYPES": "off",
        "JOB_MODULES": " app.jobs , ,other.jobs ",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://localhost:5000",
        "AWS_ENDPOINT_URL_S3": "http://localhost:5001",
        "AWS_ENDPOINT_URL_SES": "http://localhost:5002",
        "S3_BUCKET": "bucket",
        "SES_SENDER": "me@example.com",
    }
    assert Settings.from_env(env) == Settings(
        database_url="mysql+pymysql://root@127.0.0.1/test",
        api_token="api",
        scheduler_token="cron",
        lease_seconds=30.0,
        backoff_base_seconds=2.5,
        backoff_max_seconds=60.0,
        backoff_jitter=0.0,
        max_attempts=3,
        worker_batch_size=20,
        worker_budget_seconds=10.0,
        worker_poll_seconds=0.5,
        max_payload_bytes=1024,
        retention_seconds=3600.0,
        builtin_job_types=False,
        job_modules=("app.jobs", "other.jobs"),
        aws_region="eu-west-1",
        aws_endpoint_url="http://localhost:5000",
        s3_endpoint_url="http://localhost:5001",
        ses_endpoint_url="http://localhost:5002",
        s3_bucket="bucket",
        ses_sender="me@example.com",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("off", False),
    ],
)
def test_flags_accept_the_usual_spellings(raw: str, expected: bool) -> None:
    assert Settings.from_env({"BUILTIN_JOB_TYPES": raw}).builtin_job_types is expected


@pytest.mark.parametrize(
    ("name", "raw"),
    [("LEASE_SECONDS", "two minutes"), ("MAX_ATTEMPTS", "3.5"), ("BUILTIN_JOB_TYPES", "maybe")],
)
def test_an_unparsable_value_raises_an_error_naming_the_setting(name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=f"setting {name}='{raw}' is invalid"):
        Settings.from_env({name: raw})


def test_the_process_environment_is_read_when_no_mapping_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKER_BATCH_SIZE", "42")
    assert Settings.from_env().worker_batch_size == 42


def test_the_backoff_policy_is_built_from_the_backoff_settings() -> None:
    settings = Settings.from_env(
        {"BACKOFF_BASE_SECONDS": "1", "BACKOFF_MAX_SECONDS": "8", "BACKOFF_JITTER": "0.5"}
    )
    assert settings.backoff == BackoffPolicy(base_seconds=1, max_seconds=8, jitter=0.5)


def test_settings_cannot_be_changed_once_read() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.lease_seconds = 1  # type: ignore[misc]
