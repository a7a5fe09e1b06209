"""Every setting of README.md's table reaches the cloud: a stack parameter (AWS) and a Terraform
variable (Google Cloud), a secret, or fixed by the deployment and documented in docs/DEPLOY.md.
infra/settings.py is the one table that says which; a setting added to config.py alone fails
here until it is mapped there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import flask
import pytest

from common.config import Settings
from functions.catalog import CATALOG
from functions.ticks import parse_schedule_tick, parse_work_tick
from infra import settings as cloud
from infra.aws import template as generator
from infra.aws.functions import function_id
from infra.aws.parameters import API_TIMEOUT_CAP_SECONDS, bounds, parameter_name
from infra.aws.shared import secret_id
from infra.gcp import definitions
from tests.infra.template import resources_of, template
from tests.unit.test_readme import settings_in_readme

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_ENVIRONMENT_LIMIT = 4096  # bytes of names and values, all variables together


def deploy_md_settings() -> set[str]:
    """The settings named in DEPLOY.md's table of settings that are not parameters."""
    text = (ROOT / "docs" / "DEPLOY.md").read_text()
    table = text.split("### Settings that are not parameters", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", table, flags=re.MULTILINE))


def test_the_cloud_table_maps_exactly_the_readme_settings() -> None:
    assert set(cloud.setting_names()) == settings_in_readme()
    assert set(cloud.CLOUD) == settings_in_readme()
    cloud.check()


def test_a_setting_added_to_config_alone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    names = (*cloud.setting_names(), "NEW_SETTING")
    monkeypatch.setattr(cloud, "setting_names", lambda: names)
    with pytest.raises(ValueError, match=r"add \['NEW_SETTING'\]"):
        cloud.check()
    with pytest.raises(ValueError, match="NEW_SETTING"):
        generator.build(CATALOG)
    with pytest.raises(ValueError, match="NEW_SETTING"):
        definitions.settings_config()


def test_each_parameter_setting_is_a_stack_parameter_every_function_reads() -> None:
    parameters = template()["Parameters"]
    for setting, source in cloud.parameters():
        parameter = parameters[parameter_name(setting)]
        assert parameter["Description"] == setting
        if source.required:
            assert "Default" not in parameter
        else:  # the same default as the local stack
            default = Settings.from_env({setting: str(parameter["Default"])})
            assert getattr(default, cloud.field(setting)) == cloud.default(setting), setting
        if source.allowed:
            assert parameter["AllowedValues"] == list(source.allowed)
    for name, function in resources_of("AWS::Lambda::Function").items():
        if name == function_id("migrate_database"):
            continue
        variables = function["Properties"]["Environment"]["Variables"]
        for setting, _ in cloud.parameters():
            assert variables[setting] == {"Ref": parameter_name(setting)}, (name, setting)


def test_each_secret_setting_is_a_secret_read_by_the_functions_that_need_it() -> None:
    secrets = resources_of("AWS::SecretsManager::Secret")
    outputs = template()["Outputs"]
    for setting, secret in cloud.secrets():
        assert setting in secrets[secret_id(setting)]["Properties"]["Description"]
        assert outputs[secret_id(setting) + "Arn"] == {"Value": {"Ref": secret_id(setting)}}
        for function in CATALOG.functions:
            variables = resources_of("AWS::Lambda::Function")[function_id(function.name)]
            arn = variables["Properties"]["Environment"]["Variables"].get(f"{setting}_SECRET_ARN")
            wanted = secret.needed_by in ("all", function.trigger, *function.uses)
            assert (arn == {"Ref": secret_id(setting)}) == wanted, (function.name, setting)


def test_of_the_settings_that_are_not_parameters_only_the_bucket_is_set_as_a_value() -> None:
    variables = resources_of("AWS::Lambda::Function")[function_id("worker_tick")]
    environment = variables["Properties"]["Environment"]["Variables"]
    fixed = [s for s, source in cloud.CLOUD.items() if not isinstance(source, cloud.Parameter)]
    assert {s for s in fixed if s in environment} == {"S3_BUCKET"}  # the stack's bucket


def test_the_settings_that_are_not_parameters_are_documented_in_deploy_md() -> None:
    not_parameters = {s for s, v in cloud.CLOUD.items() if not isinstance(v, cloud.Parameter)}
    assert deploy_md_settings() == not_parameters


def test_each_parameter_setting_is_a_terraform_variable() -> None:
    config = json.loads(definitions.SETTINGS_FILE.read_text())
    environment = config["locals"]["settings_environment"]
    for setting, _ in cloud.parameters():
        variable = config["variable"][definitions.variable_name(setting)]
        assert setting in variable["description"]
        assert environment[setting] == f"${{tostring(var.{definitions.variable_name(setting)})}}"


def test_each_secret_setting_is_a_gcp_secret_or_says_why_not() -> None:
    data = json.loads(definitions.DEFINITIONS_FILE.read_text())
    made = {s["setting"]: s for s in data["secrets"]}
    for setting, secret in cloud.secrets():
        assert (setting in made) == (secret.gcp is None), setting
        if setting in made:
            assert made[setting]["needed_by"] == secret.needed_by


def test_the_functions_environment_fits_lambdas_limit() -> None:
    """With every parameter at its default, ARNs and endpoints at their longest, and 1 KiB left
    for the deployer's longer values (JOB_MODULES, SesSender...)."""
    parameters = template()["Parameters"]
    for function in resources_of("AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        size = sum(len(name) + _longest(value, parameters) for name, value in variables.items())
        assert size + 1024 < LAMBDA_ENVIRONMENT_LIMIT, size


def _longest(value: object, parameters: dict[str, dict[str, object]]) -> int:
    if isinstance(value, str):
        return len(value)
    assert isinstance(value, dict)
    name = value.get("Ref")
    if name in parameters:
        return len(str(parameters[name].get("Default", "")))
    return 128  # an ARN, an endpoint address or a port


def test_http_callers_of_the_ticks_get_a_budget_that_fits_the_http_api() -> None:
    """At the largest values the stack allows, a tick asked through the HTTP API without a
    budget answers inside the API's 30 s, with the margin left for a cold start."""
    top = {s: limit["MaxValue"] for s, limit in bounds(CATALOG).items() if "MaxValue" in limit}
    assert top["WORKER_HTTP_BUDGET_SECONDS"] < API_TIMEOUT_CAP_SECONDS
    settings = Settings.from_env({s: str(v) for s, v in top.items()})
    app = flask.Flask(__name__)
    with app.test_request_context("/ticks/work", method="POST"):
        work = parse_work_tick(
            flask.request, settings.worker_budget_seconds, settings.worker_http_budget_seconds
        )
        schedule = parse_schedule_tick(flask.request, settings.schedule_budget_seconds)
    assert work.budget_seconds <= top["WORKER_HTTP_BUDGET_SECONDS"]
    assert schedule <= top["SCHEDULE_BUDGET_SECONDS"] < API_TIMEOUT_CAP_SECONDS
    assert settings.worker_budget_seconds > API_TIMEOUT_CAP_SECONDS  # the schedules get more


def test_defaults_outside_the_parameters_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="WORKER_HTTP_BUDGET_SECONDS=28"):
        generator.build(CATALOG, Settings(worker_http_budget_seconds=28))
    with pytest.raises(ValueError, match="WORKER_BUDGET_SECONDS=60"):
        generator.build(CATALOG, Settings(worker_budget_seconds=60))
