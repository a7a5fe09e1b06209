"""infra/aws/template.yaml: current with the catalog, accepted by cfn-lint, and saying
what the catalog says (functions, routes, schedules, limits, least privilege)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from common.config import Settings
from functions.catalog import CATALOG, Catalog, Function, Route, Schedule
from infra.aws import template as generator
from infra.aws.cfn import logical_id
from infra.aws.functions import function_id
from infra.cron import to_aws
from tests.infra.template import TEMPLATE_FILE, resources_of, statements, template


def test_the_checked_in_template_is_what_the_catalog_gives() -> None:
    regenerated = generator.render(generator.build(CATALOG))
    assert TEMPLATE_FILE.read_text() == regenerated, "run `python -m infra.aws`"


CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))  # the venv's, as CI installs it


def test_cfn_lint_finds_nothing() -> None:
    """Not an error, warning or informational finding (cfn-lint exits 0 only then)."""
    lint = subprocess.run(
        [CFN_LINT, "--include-checks", "I", "--", str(TEMPLATE_FILE)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def _with(catalog: Catalog, **changes: Any) -> Catalog:
    return dataclasses.replace(catalog, **changes)


def test_a_function_or_schedule_added_to_the_catalog_alone_makes_the_template_stale() -> None:
    extra = Function("purge_jobs", "schedule", 30, 256, (Route("POST", "/ticks/x"),))
    added = _with(
        CATALOG,
        functions=(*CATALOG.functions, extra),
        schedules=(
            *CATALOG.schedules,
            Schedule("purge", "0 3 * * *", "purge_jobs", "schedule_budget_seconds"),
        ),
    )
    stale = generator.render(generator.build(added))
    assert stale != TEMPLATE_FILE.read_text()
    assert "PurgeJobsFunction" in stale and "PurgeRule" in stale


def test_there_is_a_lambda_function_per_function() -> None:
    functions = resources_of("AWS::Lambda::Function")
    assert set(functions) == {function_id(f.name) for f in CATALOG.functions} | {
        "MigrateDatabaseFunction"
    }
    for function in CATALOG.functions:
        properties = functions[function_id(function.name)]["Properties"]
        assert properties["Handler"] == f"functions.aws_lambda.{function.name}"
        assert properties["Timeout"] == function.timeout_seconds
        assert properties["MemorySize"] == function.memory_mb


def test_the_http_api_routes_every_route_to_its_function() -> None:
    body = template()
    integrations = resources_of("AWS::ApiGatewayV2::Integration")
    routed = {}
    for route in resources_of("AWS::ApiGatewayV2::Route").values():
        integration = route["Properties"]["Target"]["Fn::Sub"].removeprefix("integrations/${")
        uri = integrations[integration.rstrip("}")]["Properties"]["IntegrationUri"]
        routed[route["Properties"]["RouteKey"]] = uri["Fn::GetAtt"][0]
    expected = {r.key: function_id(f.name) for f in CATALOG.functions for r in f.routes}
    assert routed == expected
    for integration in integrations.values():
        assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    assert body["Resources"]["HttpApiStage"]["Properties"]["StageName"] == "$default"


def test_the_routes_cover_every_path_of_the_api_document() -> None:
    document = json.loads((TEMPLATE_FILE.parents[2] / "functions" / "openapi.json").read_text())
    documented = {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    routed = {
        r["Properties"]["RouteKey"] for r in resources_of("AWS::ApiGatewayV2::Route").values()
    }
    assert documented <= routed


def test_each_schedule_is_a_rule_firing_its_target_which_takes_its_budget_from_its_settings() -> (
    None
):
    rules = resources_of("AWS::Events::Rule")
    assert set(rules) == {logical_id(s.name, "Rule") for s in CATALOG.schedules}
    for schedule in CATALOG.schedules:
        properties = rules[logical_id(schedule.name, "Rule")]["Properties"]
        assert properties["ScheduleExpression"] == to_aws(schedule.cron)
        (target,) = properties["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [function_id(schedule.target), "Arn"]}
        assert json.loads(target["Input"]) == {"schedule": schedule.name, "body": {}}


def test_budgets_fit_in_timeouts_and_leases_outlive_them() -> None:
    functions = resources_of("AWS::Lambda::Function")
    assert {s.target for s in CATALOG.schedules} == {"schedule_tick", "worker_tick"}
    for schedule in CATALOG.schedules:
        timeout = functions[function_id(schedule.target)]["Properties"]["Timeout"]
        assert schedule.budget_seconds < timeout
    lease = template()["Parameters"]["LeaseSeconds"]
    longest = max(f["Properties"]["Timeout"] for f in functions.values() if f["DependsOn"][1:])
    assert lease["MinValue"] > longest
    assert lease["Default"] >= lease["MinValue"]
    for schedule in CATALOG.schedules:  # each tick's function is told its budget, which fits
        properties = functions[function_id(schedule.target)]["Properties"]
        budget = properties["Environment"]["Variables"][schedule.budget_setting.upper()]
        parameter = template()["Parameters"][budget["Ref"]]
        assert parameter["Default"] == schedule.budget_seconds
        assert 0 < parameter["MinValue"] <= parameter["MaxValue"] < properties["Timeout"]


def test_a_lease_no_longer_than_a_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="LEASE_SECONDS"):
        generator.build(CATALOG, Settings(lease_seconds=60))


def test_the_api_never_waits_longer_than_http_api_allows() -> None:
    integrations = resources_of("AWS::ApiGatewayV2::Integration")
    assert len(integrations) == len(CATALOG.functions)
    for integration in integrations.values():
        assert integration["Properties"]["TimeoutInMillis"] <= 30_000


def _granted(function: str) -> dict[str, list[Any]]:
    roles = resources_of("AWS::IAM::Role")
    grants: dict[str, list[Any]] = {}
    for statement in statements(roles[logical_id(function, "Role")]):
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            grants.setdefault(action, []).extend(statement["Resource"])
    return grants


@pytest.mark.parametrize("function", CATALOG.functions, ids=lambda f: f.name)
def test_each_function_is_granted_only_what_it_uses(function: Function) -> None:
    grants = _granted(function.name)
    secrets = {r["Ref"] for r in grants["secretsmanager:GetSecretValue"]}
    expected = {"DatabaseSecret", "ApiTokenSecret", "WebhookSecretSecret"}
    if function.trigger == "schedule":
        expected.add("SchedulerTokenSecret")
    if "email" in function.uses:
        expected.add("SmtpPasswordSecret")
    assert secrets == expected
    assert ("s3:PutObject" in grants) == ("bucket" in function.uses)
    assert ("ses:SendEmail" in grants) == ("email" in function.uses)
    for action, resources in grants.items():
        if not action.startswith("ec2:"):  # network interfaces take no narrower resource
            assert "*" not in resources, action
    assert not [a for a in grants if re.search(r"\*", a)], "no wildcard actions"


def test_the_migration_runs_before_the_functions_and_again_for_each_artifact() -> None:
    migration = template()["Resources"]["DatabaseMigration"]
    assert migration["Properties"]["ArtifactKey"] == {"Ref": "ArtifactKey"}
    for name, function in resources_of("AWS::Lambda::Function").items():
        if name != "MigrateDatabaseFunction":
            assert "DatabaseMigration" in function["DependsOn"]
    grants = _granted("migrate_database")
    assert grants["secretsmanager:GetSecretValue"] == [{"Ref": "DatabaseSecret"}]


def test_the_database_is_mysql_8_reachable_from_the_functions_only() -> None:
    resources = template()["Resources"]
    database = resources["Database"]["Properties"]
    assert database["Engine"] == "mysql"
    assert template()["Parameters"]["DatabaseEngineVersion"]["Default"].startswith("8.")
    assert database["PubliclyAccessible"] is False
    (ingress,) = resources["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert ingress["SourceSecurityGroupId"] == {"Fn::GetAtt": ["FunctionSecurityGroup", "GroupId"]}
    assert "{{resolve:secretsmanager:${DatabaseSecret}" in database["MasterUserPassword"]["Fn::Sub"]
