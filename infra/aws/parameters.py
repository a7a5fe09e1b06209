"""The stack's parameters: where the code and network are, and the engine's settings.

The settings' defaults come from common.config.Settings, so a deploy without overrides runs
with the same defaults as the local stack.
"""

from __future__ import annotations

from typing import Any

from common.config import Settings
from functions.catalog import Catalog
from infra.aws.cfn import ref

# (parameter, environment variable, Settings field): the settings a deployer may change.
SETTINGS = (
    ("LeaseSeconds", "LEASE_SECONDS", "lease_seconds"),
    ("MaxAttempts", "MAX_ATTEMPTS", "max_attempts"),
    ("BackoffBaseSeconds", "BACKOFF_BASE_SECONDS", "backoff_base_seconds"),
    ("BackoffMaxSeconds", "BACKOFF_MAX_SECONDS", "backoff_max_seconds"),
    ("WorkerBatchSize", "WORKER_BATCH_SIZE", "worker_batch_size"),
    ("MaxPayloadBytes", "MAX_PAYLOAD_BYTES", "max_payload_bytes"),
    ("RetentionSeconds", "RETENTION_SECONDS", "retention_seconds"),
    ("JobModules", "JOB_MODULES", "job_modules"),
)

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
    "SesSender": {"Type": "String", "Description": "Address the email jobs send from"},
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


def parameters(catalog: Catalog, settings: Settings) -> dict[str, dict[str, Any]]:
    """Every parameter, the settings' ones defaulting to ``settings``."""
    result = dict(_FIXED)
    for name, variable, field in SETTINGS:
        result[name] = _setting(variable, getattr(settings, field))
    # A lease must outlive any invocation that may hold it, or two could run one job at once.
    longest = max(f.timeout_seconds for f in catalog.functions)
    result["LeaseSeconds"]["MinValue"] = longest + 1
    return result


def _setting(variable: str, default: Any) -> dict[str, Any]:
    if isinstance(default, tuple):
        return {"Type": "String", "Default": ",".join(default), "Description": variable}
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    return {"Type": "Number", "Default": default, "Description": variable}


def settings_environment() -> dict[str, Any]:
    """The settings' environment variables, each set from its parameter."""
    return {variable: ref(name) for name, variable, _ in SETTINGS}
