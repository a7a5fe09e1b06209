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
from infra.aws import functions, parameters, shared, triggers
from infra.aws.cfn import get_att, ref

TEMPLATE_FILE = Path(__file__).with_name("template.yaml")
HEADER = """\
# GENERATED from functions/catalog.py by `python -m infra.aws`: edit that, not this file.
# Deploy with infra/aws/deploy.sh; docs/DEPLOY.md explains the parameters.
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
        "Resources": resources,
        "Outputs": _outputs(),
    }


def check(catalog: Catalog, settings: Settings) -> None:
    """Raise ValueError unless every lease outlives every invocation that may hold it."""
    longest = max(f.timeout_seconds for f in catalog.functions)
    if settings.lease_seconds <= longest:
        raise ValueError(
            f"LEASE_SECONDS ({settings.lease_seconds:g}) must exceed the longest function "
            f"timeout ({longest}s): a job could otherwise run twice at once"
        )


def _outputs() -> dict[str, Any]:
    values = {
        "ApiUrl": get_att("HttpApi", "ApiEndpoint"),
        "BucketName": ref("Bucket"),
        "DatabaseEndpoint": get_att("Database", "Endpoint.Address"),
        "DatabaseSecretArn": ref("DatabaseSecret"),
        "ApiTokenSecretArn": ref("ApiTokenSecret"),
        "SchedulerTokenSecretArn": ref("SchedulerTokenSecret"),
    }
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
