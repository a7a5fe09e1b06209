"""The checked-in CloudFormation template, read as data, and what the tests ask of it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_FILE = Path(__file__).resolve().parents[2] / "infra" / "aws" / "template.yaml"


@cache
def _template() -> dict[str, Any]:
    return dict(yaml.safe_load(TEMPLATE_FILE.read_text()))


def template() -> dict[str, Any]:
    """The checked-in template (a fresh copy: tests may change it)."""
    return dict(yaml.safe_load(yaml.safe_dump(_template())))


def resources_of(kind: str, body: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The resources of type ``kind`` by logical id."""
    body = body or _template()
    return {k: v for k, v in body["Resources"].items() if v["Type"] == kind}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of a role's inline policies."""
    return [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
