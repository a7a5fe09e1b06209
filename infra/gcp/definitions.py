"""Writes infra/gcp/definitions.json, the catalog's functions and schedules and the secret
settings as Terraform reads them (Terraform cannot read Python), and infra/gcp/settings.tf.json:
a variable per setting that infra/settings.py marks PARAMETER, defaulting to the Settings
default, and ``local.settings_environment``, the functions' environment made from them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from functions.catalog import CATALOG, Catalog
from infra import settings as cloud

DEFINITIONS_FILE = Path(__file__).with_name("definitions.json")
SETTINGS_FILE = Path(__file__).with_name("settings.tf.json")


def as_data(catalog: Catalog) -> dict[str, Any]:
    """The catalog as JSON data, names dashed as Google Cloud resource names must be."""
    functions = [
        {
            "name": f.name.replace("_", "-"),
            "entry_point": f.name,  # the target in the source's main.py
            "trigger": f.trigger,
            "timeout_seconds": f.timeout_seconds,
            "memory_mb": f.memory_mb,
            "routes": [r.key for r in f.routes],
            "uses": list(f.uses),
        }
        for f in catalog.functions
    ]
    schedules = [
        {
            "name": s.name,
            "cron": s.cron,
            "target": s.target.replace("_", "-"),
            "path": catalog.function(s.target).routes[0].path,
            "budget_seconds": s.budget_seconds,
            "budget_setting": s.budget_setting.upper(),
        }
        for s in catalog.schedules
    ]
    return {"functions": functions, "schedules": schedules, "secrets": _secrets()}


def _secrets() -> list[dict[str, str]]:
    """The secret settings this Terraform makes a secret for (the others say why not)."""
    return [
        {
            "setting": setting,
            "secret_id": "skiplock-" + setting.lower().replace("_", "-"),
            "needed_by": secret.needed_by,
        }
        for setting, secret in cloud.secrets()
        if secret.gcp is None
    ]


def variable_name(setting: str) -> str:
    """The Terraform variable of a setting: ``LEASE_SECONDS`` -> ``lease_seconds``."""
    return setting.lower()


def settings_config() -> dict[str, Any]:
    """settings.tf.json: the setting variables and the environment made from them."""
    variables = {}
    for setting, source in cloud.parameters():
        variables[variable_name(setting)] = _variable(setting, source, cloud.default(setting))
    environment = {s: f"${{tostring(var.{variable_name(s)})}}" for s, _ in cloud.parameters()}
    return {"variable": variables, "locals": {"settings_environment": environment}}


def _variable(setting: str, source: cloud.Parameter, value: Any) -> dict[str, Any]:
    kind = "bool" if isinstance(value, bool) else "number"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif not isinstance(value, int | float):
        kind, value = "string", cloud.as_text(value)
    variable: dict[str, Any] = {
        "description": f"{setting}: see the settings table of README.md",
        "type": kind,
        "default": value,
    }
    if source.allowed:
        allowed = json.dumps(list(source.allowed))
        variable["validation"] = [
            {
                "condition": f"${{contains({allowed}, var.{variable_name(setting)})}}",
                "error_message": f"{setting} must be one of {', '.join(source.allowed)}.",
            }
        ]
    return variable


def render(catalog: Catalog) -> str:
    return json.dumps(as_data(catalog), indent=2) + "\n"


def render_settings() -> str:
    return json.dumps(settings_config(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write (or --check) infra/gcp/definitions.json.")
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    check = parser.parse_args(argv).check
    for path, text in ((DEFINITIONS_FILE, render(CATALOG)), (SETTINGS_FILE, render_settings())):
        if not check:
            path.write_text(text)
            print(f"wrote {path}")
        elif path.read_text() != text:
            sys.exit(f"{path} is out of date: run `python -m infra.gcp`")
