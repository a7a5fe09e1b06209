"""infra/aws/template.yaml deployed to moto's CloudFormation: what moto creates is asserted.

The template is plain CloudFormation (no SAM transform), so moto deploys the very file that is
checked in, with one change: the ApiUrl output is dropped, as moto refuses a stack whose
outputs read an attribute of a resource type it lacks. moto skips the types it does not
support while still reporting success: the HTTP API (AWS::ApiGatewayV2::*), the secrets, the
SES identity and the Lambda invoke configs are not created here, so the routes are asserted
through the per-route invoke permissions moto does create (and on the template itself in
test_aws_template.py). moto would run the migration custom resource's function in Docker:
here its invocation is recorded instead and answered SUCCESS the way the function answers
CloudFormation (test_aws_lambda_setup.py runs the real handler against MariaDB).
"""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.cloudformation import cloudformation_backends
from moto.core import DEFAULT_ACCOUNT_ID

from functions.aws_lambda import scheduled_event
from functions.catalog import CATALOG, Function, Schedule
from infra.aws.cfn import dashed
from infra.aws.overrides import overrides
from infra.cron import to_aws
from tests.infra.template import TEMPLATE_FILE

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
REGION = "us-east-1"
STACK = "skiplock-test"
SENDER = "Jobs <jobs@example.com>"
NOT_IN_MOTO = {
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Route",
    "AWS::SecretsManager::Secret",
    "AWS::SES::EmailIdentity",
    "AWS::Lambda::EventInvokeConfig",
}


class Deployed:
    """The stack's parameters and a client per service."""

    def __init__(self, subnets: list[str], vpc: str) -> None:
        self.subnets, self.vpc = subnets, vpc
        self.client = {
            name: boto3.client(name, region_name=REGION)
            for name in ("cloudformation", "lambda", "events", "iam", "rds", "ec2", "logs", "s3")
        }

    def physical_id(self, logical_id: str) -> str:
        summaries = self.client["cloudformation"].list_stack_resources(StackName=STACK)
        ids = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in summaries["StackResourceSummaries"]
        }
        return str(ids[logical_id])

    def function(self, name: str) -> dict[str, Any]:
        return dict(self.client["lambda"].get_function(FunctionName=f"{STACK}-{dashed(name)}"))

    def invoke_permissions(self, name: str) -> list[dict[str, Any]]:
        policy = self.client["lambda"].get_policy(FunctionName=f"{STACK}-{dashed(name)}")
        return list(json.loads(policy["Policy"])["Statement"])


@pytest.fixture(scope="module")
def invocations() -> list[dict[str, Any]]:
    """The events moto's CloudFormation sent to custom resource functions."""
    return []


@pytest.fixture(scope="module")
def stack(invocations: list[dict[str, Any]]) -> Iterator[Deployed]:
    def record(function: LambdaFunction, body: str, *_: Any) -> str:
        invocations.append({"function": function.function_name, **json.loads(body)})
        return ""

    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.setattr(LambdaFunction, "invoke", record)
        with mock_aws():
            deployed = _deploy()
            _answer_migration(invocations)
            yield deployed


def _answer_migration(invocations: list[dict[str, Any]]) -> None:
    """Answer SUCCESS for the migration, as functions.aws_lambda.migrate_database does."""
    (event,) = [e for e in invocations if e["LogicalResourceId"] == "DatabaseMigration"]
    backend = cloudformation_backends[DEFAULT_ACCOUNT_ID][REGION]
    stack = backend.get_stack(event["StackId"])
    stack.get_custom_resource(event["LogicalResourceId"]).set_data({})
    stack.verify_readiness()


def _deploy() -> Deployed:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=REGION + zone)
        for i, zone in enumerate("ab")
    ]
    deployed = Deployed([s["Subnet"]["SubnetId"] for s in subnets], vpc)
    artifact = io.BytesIO()
    with zipfile.ZipFile(artifact, "w") as archive:
        archive.writestr("functions/aws_lambda.py", "")
    deployed.client["s3"].create_bucket(Bucket="artifacts")
    deployed.client["s3"].put_object(
        Bucket="artifacts", Key="skiplock/a.zip", Body=artifact.getvalue()
    )
    body = yaml.safe_load(TEMPLATE_FILE.read_text())
    del body["Outputs"]["ApiUrl"]
    arguments = [
        "ArtifactBucket=artifacts",
        "ArtifactKey=skiplock/a.zip",
        f"VpcId={vpc}",
        f"SubnetIds={','.join(deployed.subnets)}",
        f"SesSender={SENDER}",  # with a display name: deploy.sh derives SesIdentity
        "MAX_ATTEMPTS=8",  # a setting by its README name
    ]
    parameters = dict(line.split("=", 1) for line in overrides(arguments))
    deployed.client["cloudformation"].create_stack(
        StackName=STACK,
        TemplateBody=yaml.safe_dump(body),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    return deployed


def test_the_stack_is_created_and_only_known_types_are_skipped(stack: Deployed) -> None:
    cloudformation = stack.client["cloudformation"]
    status = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE"
    template = yaml.safe_load(TEMPLATE_FILE.read_text())
    created = {
        r["LogicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    }
    skipped = {v["Type"] for k, v in template["Resources"].items() if k not in created}
    assert skipped <= NOT_IN_MOTO


def test_the_migration_is_asked_to_run_for_the_deployed_artifact(
    stack: Deployed, invocations: list[dict[str, Any]]
) -> None:
    (event,) = invocations
    assert event["function"] == f"{STACK}-migrate-database"
    assert (event["RequestType"], event["ResourceType"]) == ("Create", "Custom::DatabaseMigration")
    assert event["ResourceProperties"]["ArtifactKey"] == "skiplock/a.zip"
    config = stack.function("migrate_database")["Configuration"]
    assert config["Handler"] == "functions.aws_lambda.migrate_database"
    assert config["Timeout"] > max(f.timeout_seconds for f in CATALOG.functions)


@pytest.mark.parametrize("function", CATALOG.functions, ids=lambda f: f.name)
def test_each_function_is_deployed_with_its_handler_limits_and_network(
    stack: Deployed, function: Function
) -> None:
    config = stack.function(function.name)["Configuration"]
    assert config["Handler"] == f"functions.aws_lambda.{function.name}"
    assert (config["Timeout"], config["MemorySize"]) == (
        function.timeout_seconds,
        function.memory_mb,
    )
    assert config["Runtime"] == "python3.11"
    assert sorted(config["VpcConfig"]["SubnetIds"]) == sorted(stack.subnets)
    assert config["VpcConfig"]["SecurityGroupIds"] == [stack.physical_id("FunctionSecurityGroup")]
    database = stack.client["rds"].describe_db_instances()["DBInstances"][0]
    variables = config["Environment"]["Variables"]
    assert variables["DATABASE_HOST"] == database["Endpoint"]["Address"]
    assert variables["S3_BUCKET"] == stack.physical_id("Bucket")


@pytest.mark.parametrize("function", CATALOG.functions, ids=lambda f: f.name)
def test_each_route_may_invoke_its_function_through_the_api(
    stack: Deployed, function: Function
) -> None:
    granted = set()
    for statement in stack.invoke_permissions(function.name):
        if statement["Principal"] == {"Service": "apigateway.amazonaws.com"}:
            source = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
            granted.add(re.sub(r"^.*?/\*/", "", source))
    assert granted == {r.method + re.sub(r"\{\w+\}", "*", r.path) for r in function.routes}


@pytest.mark.parametrize("schedule", CATALOG.schedules, ids=lambda s: s.name)
def test_each_schedule_fires_its_target_with_its_event(stack: Deployed, schedule: Schedule) -> None:
    events = stack.client["events"]
    rule = events.describe_rule(Name=f"{STACK}-{schedule.name}")
    assert rule["ScheduleExpression"] == to_aws(schedule.cron)
    assert rule["State"] == "ENABLED"
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == stack.function(schedule.target)["Configuration"]["FunctionArn"]
    assert json.loads(target["Input"]) == scheduled_event(schedule)
    sources = [
        s["Condition"]["ArnLike"]["AWS:SourceArn"]
        for s in stack.invoke_permissions(schedule.target)
        if s["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    assert rule["Arn"] in sources


def test_only_the_worker_may_write_the_bucket(stack: Deployed) -> None:
    iam = stack.client["iam"]
    bucket = stack.physical_id("Bucket")
    for function in CATALOG.functions:
        role = stack.function(function.name)["Configuration"]["Role"].rsplit("/", 1)[1]
        (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        document = json.dumps(iam.get_role_policy(RoleName=role, PolicyName=name))
        assert (f"arn:aws:s3:::{bucket}/*" in document) == ("bucket" in function.uses)


def test_the_database_is_private_in_the_subnets_and_admits_the_functions_only(
    stack: Deployed,
) -> None:
    (database,) = stack.client["rds"].describe_db_instances()["DBInstances"]
    assert (database["Engine"], database["PubliclyAccessible"]) == ("mysql", False)
    subnets = [s["SubnetIdentifier"] for s in database["DBSubnetGroup"]["Subnets"]]
    assert sorted(subnets) == sorted(stack.subnets)
    # moto reads an RDS instance's groups from a property CloudFormation does not have
    # (VpcSecurityGroupIds, not VPCSecurityGroups), so the group's own rule is what is checked.
    group = stack.physical_id("DatabaseSecurityGroup")
    ec2 = stack.client["ec2"]
    (rule,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    assert rule["FromPort"] == rule["ToPort"] == 3306
    pairs = [p["GroupId"] for p in rule["UserIdGroupPairs"]]
    assert pairs == [stack.physical_id("FunctionSecurityGroup")]


def test_each_function_logs_to_its_own_group(stack: Deployed) -> None:
    groups = {
        g["logGroupName"]: g.get("retentionInDays")
        for g in stack.client["logs"].describe_log_groups()["logGroups"]
    }
    for function in CATALOG.functions:
        assert groups[f"/aws/lambda/{STACK}-{dashed(function.name)}"] == 30


def test_a_sender_with_a_display_name_sends_as_it_and_iam_names_its_bare_address(
    stack: Deployed,
) -> None:
    iam = stack.client["iam"]
    for function in CATALOG.functions:
        config = stack.function(function.name)["Configuration"]
        variables = config["Environment"]["Variables"]
        assert (variables["SES_SENDER"], str(variables["MAX_ATTEMPTS"])) == (SENDER, "8")
        role = config["Role"].rsplit("/", 1)[1]
        (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        # moto keeps the document as the repr of a dict
        statements = ast.literal_eval(document) if isinstance(document, str) else document
        ses = [s for s in statements["Statement"] if "ses:SendRawEmail" in s["Action"]]
        if "email" in function.uses:
            (statement,) = ses
            identity = f"arn:aws:ses:{REGION}:{DEFAULT_ACCOUNT_ID}:identity/jobs@example.com"
            assert statement["Resource"] == [identity]
        else:
            assert not ses
