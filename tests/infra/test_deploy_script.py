"""infra/aws/deploy.sh end to end, with a stand-in `aws` that records what it is asked: the
overrides reach CloudFormation checked and completed, and PACKAGE_OPTIONS reach the packager.
It builds the real artifact (pip downloads the wheels, or takes them from its cache)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra import package

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ROOT / "tests" / "unit" / "handlers"
FAKE_AWS = """#!/bin/sh
printf '%s\\n' "$*" >> "$AWS_CALLS"
case "$1 $2" in
  "s3api head-object") exit 1 ;;  # not uploaded yet
  "s3 cp") cp "$3" "$AWS_UPLOADED" ;;
esac
"""


def deploy(tmp_path: Path, *arguments: str, options: str = "") -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHON": sys.executable,
        "AWS_CALLS": str(tmp_path / "calls"),
        "AWS_UPLOADED": str(tmp_path / "uploaded.zip"),
        "PACKAGE_OPTIONS": options,
    }
    script = ROOT / "infra" / "aws" / "deploy.sh"
    return subprocess.run(
        [str(script), "stack", "bucket", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_deploy_passes_checked_overrides_and_the_users_package(tmp_path: Path) -> None:
    options = (
        f"--include {HANDLERS / 'custom_jobs.py'}"
        f" --requirements {HANDLERS / 'custom_jobs-requirements.txt'}"
        f" --output {tmp_path / 'build' / 'skiplock-lambda.zip'}"
    )
    run = deploy(
        tmp_path, "SesSender=Jobs <jobs@example.com>", "JOB_MODULES=custom_jobs", options=options
    )
    assert run.returncode == 0, run.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    (deploy_call,) = [c for c in calls if c.startswith("cloudformation deploy")]
    assert "SesSender=Jobs <jobs@example.com> " in deploy_call
    assert "SesIdentity=jobs@example.com" in deploy_call
    assert "JobModules=custom_jobs" in deploy_call
    uploaded = tmp_path / "uploaded.zip"
    assert f"ArtifactKey=skiplock/{package.digest(uploaded)}.zip" in deploy_call
    names = zipfile.ZipFile(uploaded).namelist()
    assert {"custom_jobs.py", "yaml/__init__.py", "fonts/DejaVuSans.ttf"} <= set(names)


def test_a_bad_override_stops_deploy_before_anything_is_built(tmp_path: Path) -> None:
    run = deploy(tmp_path, "MaxAttempt=8")
    assert run.returncode == 2
    assert "MaxAttempt: neither a parameter" in run.stderr
    assert not (tmp_path / "calls").exists()
