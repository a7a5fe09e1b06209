"""infra/gcp: definitions.json is current with the catalog, and the Terraform is formatted
and its locals evaluate on it. `terraform validate` is not run: it needs the google provider,
which only registry.terraform.io serves (not reachable here). Skipped without terraform."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from common.config import Settings
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


def test_settings_tf_json_is_what_the_settings_give() -> None:
    assert generator.SETTINGS_FILE.read_text() == generator.render_settings()


def declared_variables() -> dict[str, dict[str, Any]]:
    """Every Terraform variable: the hand-written ones and settings.tf.json's."""
    declared = {}
    for path in sorted(GCP.glob("*.tf")):
        for name, body in re.findall(
            r'^variable "(\w+)" \{(.*?)^\}', path.read_text(), re.S | re.M
        ):
            description = re.search(r'description\s*=\s*"(.*)"', body)
            declared[name] = {"description": description.group(1) if description else ""}
    declared |= json.loads(generator.SETTINGS_FILE.read_text())["variable"]
    return declared


def terraform_text() -> str:
    return "\n".join(p.read_text() for p in sorted(GCP.glob("*.tf*")))


def test_every_variable_is_described_used_and_declared() -> None:
    declared = declared_variables()
    used = set(re.findall(r"\bvar\.(\w+)", terraform_text()))
    assert set(declared) == used, "declared but unused, or used but undeclared"
    assert all(v["description"].strip() for v in declared.values())


def test_the_hand_written_variables_are_in_deploy_md() -> None:
    deploy = (GCP.parents[1] / "docs" / "DEPLOY.md").read_text()
    generated = json.loads(generator.SETTINGS_FILE.read_text())["variable"]
    for name in set(declared_variables()) - set(generated):
        assert f"`{name}`" in deploy, name


def test_each_schedule_sends_the_budget_its_setting_gives() -> None:
    scheduler = (GCP / "scheduler.tf").read_text()
    assert "local.environment[each.value.budget_setting]" in scheduler
    environment = json.loads(generator.SETTINGS_FILE.read_text())["locals"]["settings_environment"]
    for schedule in CATALOG.schedules:
        assert schedule.budget_setting.upper() in environment


@needs_terraform
def test_the_terraform_locals_evaluate_on_the_definitions(tmp_path: Path) -> None:
    versions = (GCP / "versions.tf").read_text()
    block = re.search(r"^locals \{.*?^\}", versions, re.S | re.M)
    assert block
    outputs = (
        'output "secrets" { value = local.setting_secrets }\n'
        'output "http" { value = local.http }\n'
        'output "environment" { value = local.settings_environment }\n'
    )
    (tmp_path / "main.tf").write_text(block.group(0) + "\n" + outputs)
    shutil.copy(generator.DEFINITIONS_FILE, tmp_path)
    shutil.copy(generator.SETTINGS_FILE, tmp_path)
    assert terraform("init", "-backend=false", cwd=tmp_path).returncode == 0
    applied = terraform("apply", "-auto-approve", "-var", "max_attempts=8", cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    run = terraform("output", "-json", cwd=tmp_path)
    values = {k: v["value"] for k, v in json.loads(run.stdout).items()}
    emailers = sorted(f.name.replace("_", "-") for f in CATALOG.functions if "email" in f.uses)
    assert values["secrets"]["SMTP_PASSWORD"]["readers"] == emailers
    http = {f.name.replace("_", "-") for f in CATALOG.functions if f.trigger == "http"}
    assert set(values["http"]) == http
    environment = values["environment"]
    assert environment["MAX_ATTEMPTS"] == "8"
    assert environment["BACKOFF_JITTER"] == "0.1" and environment["SMTP_STARTTLS"] == "false"
    assert Settings.from_env(environment).max_attempts == 8  # the functions read it back


@needs_terraform
def test_a_setting_outside_its_allowed_values_is_refused(tmp_path: Path) -> None:
    shutil.copy(generator.SETTINGS_FILE, tmp_path)
    assert terraform("init", "-backend=false", cwd=tmp_path).returncode == 0
    run = terraform("plan", "-var", "email_transport=pigeon", cwd=tmp_path)
    assert run.returncode != 0 and "EMAIL_TRANSPORT must be one of ses, smtp" in run.stderr
