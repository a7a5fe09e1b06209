"""Generates infra/aws/template.yaml, the CloudFormation template, from functions/catalog.py.

Plain CloudFormation (no SAM transform): what cfn-lint checks and the moto test deploys is
exactly what `aws cloudformation deploy` deploys.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from common.config import Settings
from functions.catalog import CATALOG, Catalog
from infra import settings as cloud
from infra.aws import functions, parameters, shared, triggers
from infra.aws.cfn import get_att, ref

TEMPLATE_FILE = Path(__file__).with_name("template.yaml")
HEADER = """\
# GENERATED from functions/catalog.py by `python -m infra.aws`: edit that, not this file.
# Deploy with infra/aws/deploy.sh; docs/DEPLOY.md explains the parameters. A parameter per
# setting of README.md's table (infra/settings.py says which are secrets or fixed instead).
# The schedules invoke the ticks directly with their full budgets; through the HTTP API
# (which cuts requests at 30 s) a tick that names no budget gets WorkerHttpBudgetSeconds or
# ScheduleBudgetSeconds, both at most 25 s (MaxValue): name one below 25 s, if any.
"""


def build(catalog: Catalog, settings: Settings | None = None) -> dict[str, Any]:
    """The template for ``catalog``, its setting parameters defaulting to ``settings``."""
    settings = settings or Settings()
    check(catalog, settings)
    resources = {
        **shared.resources(),
        **functions.resources(catalog),
        **triggers.http_api(catalog),
        **triggers.schedules(catalog),
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "skiplock: a database-as-a-queue job engine on Lambda, HTTP API and RDS",
        "Parameters": parameters.parameters(catalog, settings),
        "Conditions": parameters.conditions(),
        "Resources": resources,
        "Outputs": _outputs(),
    }


def check(catalog: Catalog, settings: Settings) -> None:
    """Raise ValueError unless every setting is mapped (infra/settings.py) and the settings'
    defaults keep the bounds the parameters set: a lease outlives every invocation that may
    hold it, and a tick's budget fits its function and, if HTTP callers get it, the API."""
    cloud.check()
    for setting, limit in parameters.bounds(catalog).items():
        value = getattr(settings, cloud.field(setting))
        if not limit.get("MinValue", value) <= value <= limit.get("MaxValue", value):
            raise ValueError(
                f"{setting}={value:g} is outside {limit}: "
                + (
                    "a job could run twice at once"
                    if setting == "LEASE_SECONDS"
                    else "a tick would run past its function's timeout or the HTTP API's 30 s"
                )
            )


def _outputs() -> dict[str, Any]:
    values = {
        "ApiUrl": get_att("HttpApi", "ApiEndpoint"),
        "BucketName": ref("Bucket"),
        "DatabaseEndpoint": get_att("Database", "Endpoint.Address"),
        "DatabaseSecretArn": ref("DatabaseSecret"),
    }
    for setting, _ in cloud.secrets():
        values[shared.secret_id(setting) + "Arn"] = ref(shared.secret_id(setting))
    return {name: {"Value": value} for name, value in values.items()}


def render(template: dict[str, Any]) -> str:
    """``template`` as the YAML text that is checked in."""
    return HEADER + yaml.dump(template, Dumper=_NoAliases, sort_keys=False, width=100)


class _NoAliases(yaml.SafeDumper):
    """Writes a repeated value out again: CloudFormation rejects YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write (or --check) infra/aws/template.yaml.")
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    text = render(build(CATALOG))
    if not parser.parse_args(argv).check:
        TEMPLATE_FILE.write_text(text)
        print(f"wrote {TEMPLATE_FILE}")
    elif TEMPLATE_FILE.read_text() != text:
        sys.exit(f"{TEMPLATE_FILE} is out of date: run `python -m infra.aws`")
