"""The real artifact: `infra.package` builds it from requirements.txt with pip (it needs PyPI),
and its handlers run from the unzipped tree alone, in an interpreter without site-packages,
as Lambda's Python runtime loads /var/task."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra import package

pytestmark = pytest.mark.slow
# Migrates through the custom resource handler (its answer URL is unreachable: it raises after
# migrating), then serves one HTTP API event and one scheduled event.
SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from functions import aws_lambda as handlers
event = {"RequestType": "Create", "ResponseURL": "http://127.0.0.1:9/", "StackId": "s",
         "RequestId": "r", "LogicalResourceId": "DatabaseMigration"}
try:
    handlers.migrate_database(event, None)
except OSError:
    pass
http = {"version": "2.0", "rawPath": "/jobs", "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": "Bearer api"},
        "requestContext": {"http": {"method": "POST", "path": "/jobs", "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.7"}},
        "body": json.dumps({"type": "noop"}), "isBase64Encoded": False}
tick = {"schedule": "worker-tick", "body": {"budget_seconds": 3, "max_jobs": 1}}
answers = [handlers.submit_job(http, None), handlers.worker_tick(tick, None)]
print(json.dumps([[a["statusCode"], json.loads(a["body"])] for a in answers]))
print(handlers.__file__)
"""


def test_the_built_artifact_serves_events_on_its_own(tmp_path: Path, empty_mariadb: str) -> None:
    artifact = package.build(out=tmp_path / "build" / "skiplock-lambda.zip")
    task = tmp_path / "task"
    zipfile.ZipFile(artifact).extractall(task)
    assert not (task / "infra").exists()  # the handlers run without it
    env = {"DATABASE_URL": empty_mariadb, "API_TOKEN": "api", "SCHEDULER_TOKEN": "scheduler"}
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SCRIPT, str(task)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    answers, location = run.stdout.splitlines()[-2:]
    submitted, ticked = json.loads(answers)
    assert submitted[0] == 201
    assert ticked == [200, {**ticked[1], "claimed": 1, "succeeded": 1}]
    assert location.startswith(str(task))
