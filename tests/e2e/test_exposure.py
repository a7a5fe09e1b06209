"""The local stack refuses to listen beyond loopback without API_TOKEN, before it binds anything
(nothing here ever listens on a non-loopback address)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from common.config import Settings
from local.stack import REPO, check_exposure
from tests.e2e.stack import free_port

OPEN = Settings()
GUARDED = Settings(api_token="t")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    check_exposure(host, OPEN)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com"])
def test_any_other_address_needs_api_token(host: str) -> None:
    with pytest.raises(ValueError, match="set API_TOKEN"):
        check_exposure(host, OPEN)
    check_exposure(host, GUARDED)


def test_the_stack_on_0_0_0_0_without_api_token_exits_before_binding() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "API_TOKEN"}

    run = subprocess.run(
        [sys.executable, "-m", "local", "--host", "0.0.0.0", "--port", str(port)],
        cwd=REPO,
        env={**env, "DATABASE_URL": "sqlite:///:memory:", "RECURRING_FILE": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode != 0
    assert "skiplock cannot start: --host 0.0.0.0 listens beyond this machine" in run.stderr
    assert "set API_TOKEN" in run.stderr
    assert "is up" not in run.stdout
