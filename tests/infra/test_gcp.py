"""infra/gcp: definitions.json is current with the catalog, and the Terraform is formatted
and its locals evaluate on it. `terraform validate` is not run: it needs the google provider,
which only registry.terraform.io serves (not reachable here). Skipped without terraform."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from functions.catalog import CATALOG
from infra.gcp import definitions as generator

GCP = Path(generator.__file__).parent
TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not installed")


def test_definitions_json_is_what_the_catalog_gives() -> None:
    assert generator.DEFINITIONS_FILE.read_text() == generator.render(CATALOG)


def test_each_schedule_posts_to_its_targets_tick_route() -> None:
    data = json.loads(generator.DEFINITIONS_FILE.read_text())
    routes = {f["name"]: f["routes"] for f in data["functions"]}
    for schedule in data["schedules"]:
        assert f"POST {schedule['path']}" in routes[schedule["target"]]


def terraform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert TERRAFORM
    command = [TERRAFORM, *args, "-no-color"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


@needs_terraform
def test_the_terraform_is_formatted() -> None:
    run = terraform("fmt", "-check", "-diff", cwd=GCP)
    assert run.returncode == 0, run.stdout + run.stderr


@needs_terraform
def test_the_terraform_locals_evaluate_on_the_definitions(tmp_path: Path) -> None:
    versions = (GCP / "versions.tf").read_text()
    block = re.search(r"^locals \{.*?^\}", versions, re.S | re.M)
    assert block
    outputs = 'output "budgets" { value = local.budgets }\noutput "http" { value = local.http }\n'
    (tmp_path / "main.tf").write_text(block.group(0) + "\n" + outputs)
    shutil.copy(generator.DEFINITIONS_FILE, tmp_path)
    assert terraform("init", "-backend=false", cwd=tmp_path).returncode == 0
    assert terraform("apply", "-auto-approve", cwd=tmp_path).returncode == 0
    run = terraform("output", "-json", cwd=tmp_path)
    values = {k: v["value"] for k, v in json.loads(run.stdout).items()}
    schedules = CATALOG.schedules
    assert values["budgets"] == {
        s.target.replace("_", "-"): {s.budget_setting.upper(): f"{s.budget_seconds:g}"}
        for s in schedules
    }
    http = {f.name.replace("_", "-") for f in CATALOG.functions if f.trigger == "http"}
    assert set(values["http"]) == http
