"""A Lambda function per function of the catalog, each with its own role and log group, and
the migration that runs once per deploy as a custom resource."""

from __future__ import annotations

from typing import Any, NamedTuple

from functions.catalog import Catalog, Function
from infra import settings as cloud
from infra.aws.cfn import (
    Resource,
    Resources,
    allow,
    dashed,
    get_att,
    logical_id,
    policy,
    ref,
    service_role,
    sub,
)
from infra.aws.parameters import ses_identity, settings_environment
from infra.aws.shared import DATABASE_NAME, secret_id
from infra.package import ARCHITECTURE, RUNTIME

ADAPTER = "functions.aws_lambda"
MIGRATION_FUNCTION = "migrate_database"
LOG_RETENTION_DAYS = 30
# Lambda makes network interfaces in the VPC with the function's role; the actions take no
# narrower resource (AWSLambdaVPCAccessExecutionRole grants the same on "*").
_NETWORK = allow(
    [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    ],
    ["*"],
)


class Size(NamedTuple):
    timeout_seconds: int
    memory_mb: int


MIGRATION_SIZE = Size(timeout_seconds=300, memory_mb=512)


def resources(catalog: Catalog) -> Resources:
    """The functions of ``catalog`` and the migration, by logical id."""
    result: Resources = {}
    for function in catalog.functions:
        secrets = {k: ref(v) for k, v in _secrets(function).items()}
        environment = {**settings_environment(), "S3_BUCKET": ref("Bucket"), **secrets}
        size = Size(function.timeout_seconds, function.memory_mb)
        result |= _lambda(function.name, environment, _grants(function), size)
    result |= _migration()
    return result


def function_id(name: str) -> str:
    """The logical id of the Lambda function ``name``."""
    return logical_id(name, "Function")


def _secrets(function: Function) -> dict[str, str]:
    """Environment variable -> logical id of a secret the function reads at cold start:
    ``<SETTING>_SECRET_ARN`` for each secret setting it needs (functions.aws_lambda)."""
    secrets = {"DATABASE_SECRET_ARN": "DatabaseSecret"}
    for setting, secret in cloud.secrets():
        if needs(function, secret):
            secrets[f"{setting}_SECRET_ARN"] = secret_id(setting)
    return secrets


def needs(function: Function, secret: cloud.Secret) -> bool:
    """Whether ``function`` reads ``secret``: all do, or those of its trigger or use."""
    return secret.needed_by in ("all", function.trigger, *function.uses)


def _grants(function: Function) -> list[dict[str, Any]]:
    grants = []
    if "bucket" in function.uses:
        grants.append(allow(["s3:PutObject"], [sub("${Bucket.Arn}/*")]))
    if "email" in function.uses:  # the bare address: a display name is no identity
        identity = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${Sender}"
        resource = {"Fn::Sub": [identity, {"Sender": ses_identity()}]}
        grants.append(allow(["ses:SendEmail", "ses:SendRawEmail"], [resource]))
    return grants


def _lambda(
    name: str, environment: dict[str, Any], grants: list[dict[str, Any]], size: Size
) -> Resources:
    """Role, log group and function for ``name``."""
    fid, log_id, role_id = function_id(name), logical_id(name, "LogGroup"), logical_id(name, "Role")
    secrets = [k for k in environment if k.endswith("_SECRET_ARN")]
    read = allow(["secretsmanager:GetSecretValue"], [environment[k] for k in secrets])
    logs = allow(["logs:CreateLogStream", "logs:PutLogEvents"], [get_att(log_id, "Arn")])
    full_name = "${AWS::StackName}-" + dashed(name)
    return {
        log_id: {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub("/aws/lambda/" + full_name),
                "RetentionInDays": LOG_RETENTION_DAYS,
            },
            # The logs go with the stack; a stack made again under the same name starts clean.
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
        },
        role_id: service_role(
            "lambda.amazonaws.com", policy(f"{dashed(name)}-access", logs, _NETWORK, read, *grants)
        ),
        fid: _function_resource(name, full_name, environment, role_id, log_id, size),
    }


def _function_resource(
    name: str, full_name: str, environment: dict[str, Any], role_id: str, log_id: str, size: Size
) -> Resource:
    properties: dict[str, Any] = {
        "FunctionName": sub(full_name),
        "Handler": f"{ADAPTER}.{name}",
        "Runtime": RUNTIME,
        "Architectures": [ARCHITECTURE],
        "Code": {"S3Bucket": ref("ArtifactBucket"), "S3Key": ref("ArtifactKey")},
        "Role": get_att(role_id, "Arn"),
        "Timeout": size.timeout_seconds,
        "MemorySize": size.memory_mb,
        "VpcConfig": {
            "SecurityGroupIds": [ref("FunctionSecurityGroup")],
            "SubnetIds": ref("SubnetIds"),
        },
        "Environment": {"Variables": {**_database_environment(), **environment}},
    }
    # The functions go live only once the schema they expect is in place.
    depends = [log_id] if name == MIGRATION_FUNCTION else [log_id, "DatabaseMigration"]
    return {"Type": "AWS::Lambda::Function", "DependsOn": depends, "Properties": properties}


def _database_environment() -> dict[str, Any]:
    return {
        "DATABASE_HOST": get_att("Database", "Endpoint.Address"),
        "DATABASE_PORT": get_att("Database", "Endpoint.Port"),
        "DATABASE_NAME": DATABASE_NAME,
    }


def _migration() -> Resources:
    """`alembic upgrade head`, run by CloudFormation whenever a new artifact is deployed."""
    environment = {"DATABASE_SECRET_ARN": ref("DatabaseSecret")}
    result = _lambda(MIGRATION_FUNCTION, environment, [], MIGRATION_SIZE)
    result["DatabaseMigration"] = {
        "Type": "Custom::DatabaseMigration",
        "Properties": {
            "ServiceToken": get_att(function_id(MIGRATION_FUNCTION), "Arn"),
            # A new key is a new build: the changed property makes CloudFormation run it again.
            "ArtifactKey": ref("ArtifactKey"),
        },
    }
    return result
