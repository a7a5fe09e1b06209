"""The stack's parameters: where the code and network are, and the engine's settings.

A parameter per setting that infra/settings.py marks PARAMETER (``LEASE_SECONDS`` ->
``LeaseSeconds``), defaulting to common.config.Settings' default, so a deploy without
overrides runs with the same defaults as the local stack. Bounds that the deployment needs
(a lease outlives every invocation, a tick's budget fits its function and, for what an HTTP
caller gets unasked, the HTTP API's 30 s) are the parameters' MinValue and MaxValue, so
CloudFormation refuses a value that breaks them.
"""

from __future__ import annotations

from typing import Any

from common.config import Settings
from functions.catalog import Catalog
from infra import settings as cloud
from infra.aws.cfn import logical_id, ref

API_TIMEOUT_CAP_SECONDS = 30  # the most an HTTP API waits for an integration
# A tick asked over the HTTP API answers after its budget, the end of its last jobs, and a
# cold start (reading the secrets): this much must be left of the 30 s for them.
HTTP_MARGIN_SECONDS = 5
# The settings that give a tick's HTTP caller its budget when the body names none
# (functions/ticks.py): a schedule tick runs its whole budget, a worker tick the HTTP one.
HTTP_DEFAULT_BUDGETS = ("schedule_budget_seconds", "worker_http_budget_seconds")
SES_IDENTITY = "SesIdentity"
HAS_SES_IDENTITY = "HasSesIdentity"

_FIXED: dict[str, dict[str, Any]] = {
    "ArtifactBucket": {"Type": "String", "Description": "S3 bucket holding the code zip"},
    "ArtifactKey": {
        "Type": "String",
        "Description": "S3 key of the zip from `python -m infra.package` (a new key per build)",
    },
    "VpcId": {"Type": "AWS::EC2::VPC::Id", "Description": "VPC of the functions and database"},
    "SubnetIds": {
        "Type": "List<AWS::EC2::Subnet::Id>",
        "Description": "Private subnets in two or more zones, with a NAT route to AWS APIs",
    },
    SES_IDENTITY: {
        "Type": "String",
        "Default": "",
        "AllowedPattern": r"^([^\s<>@]+@[^\s<>@]+)?$",
        "Description": "The bare address of SesSender, verified in SES and named in IAM"
        " (deploy.sh derives it from SesSender); empty: SesSender itself",
    },
    "DatabaseInstanceClass": {"Type": "String", "Default": "db.t4g.micro"},
    "DatabaseAllocatedStorage": {"Type": "Number", "Default": 20, "MinValue": 20},
    "DatabaseEngineVersion": {"Type": "String", "Default": "8.0", "Description": "MySQL 8.x"},
    "DatabaseMultiAz": {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"]},
    "DatabaseDeletionProtection": {
        "Type": "String",
        "Default": "true",
        "AllowedValues": ["true", "false"],
    },
    "ApiRateLimit": {"Type": "Number", "Default": 100, "Description": "Requests per second"},
    "ApiBurstLimit": {"Type": "Number", "Default": 200},
}


def parameter_name(setting: str) -> str:
    """The stack parameter of the setting ``setting`` (``LEASE_SECONDS`` -> ``LeaseSeconds``)."""
    source = cloud.CLOUD[setting]
    assert isinstance(source, cloud.Parameter), f"{setting} is not a parameter"
    return source.name or logical_id(setting.lower())


def parameters(catalog: Catalog, settings: Settings) -> dict[str, dict[str, Any]]:
    """Every parameter, the settings' ones defaulting to ``settings``."""
    result = dict(_FIXED)
    limits = bounds(catalog)
    for setting, source in cloud.parameters():
        value = getattr(settings, cloud.field(setting))
        result[parameter_name(setting)] = _setting(setting, source, value) | limits.get(setting, {})
    return result


def bounds(catalog: Catalog) -> dict[str, dict[str, int]]:
    """MinValue and MaxValue of the settings whose values the deployment constrains."""
    longest = max(f.timeout_seconds for f in catalog.functions)
    # A lease must outlive any invocation that may hold it, or two could run one job at once.
    result = {"LEASE_SECONDS": {"MinValue": longest + 1}}
    for schedule in catalog.schedules:
        timeout = catalog.function(schedule.target).timeout_seconds
        name = schedule.budget_setting.upper()
        top = min(timeout - 1, result.get(name, {}).get("MaxValue", timeout))
        result[name] = {"MinValue": 1, "MaxValue": top}
    for setting in HTTP_DEFAULT_BUDGETS:
        name = setting.upper()
        top = min(
            API_TIMEOUT_CAP_SECONDS - HTTP_MARGIN_SECONDS,
            result.get(name, {}).get("MaxValue", longest),
        )
        result[name] = {"MinValue": 1, "MaxValue": top}
    return result


def _setting(setting: str, source: cloud.Parameter, value: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"Type": "String", "Description": setting}
    if source.required:
        return result
    if isinstance(value, bool):
        result["AllowedValues"] = ["true", "false"]
    elif isinstance(value, int | float):
        result["Type"] = "Number"
        value = int(value) if isinstance(value, float) and value.is_integer() else value
        result["Default"] = value
        return result
    if source.allowed:
        result["AllowedValues"] = list(source.allowed)
    result["Default"] = cloud.as_text(value)
    return result


def settings_environment() -> dict[str, Any]:
    """The settings' environment variables, each set from its parameter."""
    return {setting: ref(parameter_name(setting)) for setting, _ in cloud.parameters()}


def conditions() -> dict[str, Any]:
    return {HAS_SES_IDENTITY: {"Fn::Not": [{"Fn::Equals": [ref(SES_IDENTITY), ""]}]}}


def ses_identity() -> dict[str, Any]:
    """The bare sender address: SesIdentity, or SesSender when that is empty."""
    return {"Fn::If": [HAS_SES_IDENTITY, ref(SES_IDENTITY), ref(parameter_name("SES_SENDER"))]}
