"""The real artifact: `infra.package` builds it from requirements.txt with pip (it needs PyPI),
and its handlers run from the unzipped tree alone, in an interpreter without site-packages,
as Lambda's Python runtime loads /var/task. It is built as a deployer builds theirs, with their
own job module and its requirement (tests/unit/handlers/custom_jobs.py and PyYAML)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from infra import package

pytestmark = pytest.mark.slow
HANDLERS = Path(__file__).resolve().parents[1] / "unit" / "handlers"
ADDITIONS = package.Additions(
    include=(HANDLERS / "custom_jobs.py",),
    requirements=(HANDLERS / "custom_jobs-requirements.txt",),
)
TEXT = "Zażółć gęślą jaźń ü"
# Migrates through the custom resource handler (its answer URL is unreachable: it raises after
# migrating), then serves HTTP API events (three jobs, one of them the user's) and one
# scheduled event that runs them.
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
def submit(job):
    return {"version": "2.0", "rawPath": "/jobs", "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": "Bearer api"},
        "requestContext": {"http": {"method": "POST", "path": "/jobs", "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.7"}},
        "body": json.dumps(job), "isBase64Encoded": False}
jobs = [{"type": "noop"}, {"type": "greet", "payload": {"name": "Zoë"}},
        {"type": "greeting_card", "payload": {"name": "Zoë"}}]
queues = ["default", "chores"]
tick = {"schedule": "worker-tick", "body": {"budget_seconds": 5, "max_jobs": 3, "queues": queues}}
answers = [handlers.submit_job(submit(job), None) for job in jobs]
answers.append(handlers.worker_tick(tick, None))
print(json.dumps([[a["statusCode"], json.loads(a["body"])] for a in answers]))
print(handlers.__file__)
"""
# The pdf job type's renderer, with the font it finds when PDF_FONT_PATH is unset.
PDF_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from common.config import Settings
from common.handlers.pdf import PdfPayload, find_font, render_pdf
font = find_font(Settings.from_env({}))
data = render_pdf(PdfPayload(title=sys.argv[2], paragraphs=[sys.argv[2]]), font)
open(sys.argv[3], "wb").write(data)
print(font.regular, font.bold)
"""


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact, built with the user's additions and unzipped as Lambda unzips it."""
    root = tmp_path_factory.mktemp("artifact")
    artifact = package.build(out=root / "build" / "skiplock-lambda.zip", additions=ADDITIONS)
    zipfile.ZipFile(artifact).extractall(root / "task")
    return root / "task"


def run_isolated(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_built_artifact_serves_events_on_its_own(task: Path, empty_mariadb: str) -> None:
    assert not (task / "infra").exists()  # the handlers run without it
    assert (task / "custom_jobs.py").is_file() and (task / "yaml" / "__init__.py").is_file()
    env = {
        "DATABASE_URL": empty_mariadb,
        "API_TOKEN": "api",
        "SCHEDULER_TOKEN": "scheduler",
        "JOB_MODULES": "custom_jobs",
    }
    run = run_isolated(SCRIPT, str(task), env=env)
    assert run.returncode == 0, run.stderr
    answers, location = run.stdout.splitlines()[-2:]
    *submitted, ticked = json.loads(answers)
    assert [status for status, _ in submitted] == [201, 201, 201]
    assert ticked == [200, {**ticked[1], "claimed": 3, "succeeded": 3}]
    assert location.startswith(str(task))


def test_a_pdf_with_text_beyond_latin_1_renders_with_the_packaged_font(
    task: Path, tmp_path: Path
) -> None:
    out = tmp_path / "doc.pdf"
    run = run_isolated(PDF_SCRIPT, str(task), TEXT, str(out), env={})
    assert run.returncode == 0, run.stderr
    regular, bold = run.stdout.split()
    assert (regular, bold) == (
        str(task / "fonts" / "DejaVuSans.ttf"),
        str(task / "fonts" / "DejaVuSans-Bold.ttf"),
    )
    reader = PdfReader(io.BytesIO(out.read_bytes()))
    assert TEXT in reader.pages[0].extract_text()
