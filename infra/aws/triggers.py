"""What invokes the functions: an HTTP API route per route, an EventBridge rule per schedule."""

from __future__ import annotations

import json
import re
from typing import Any

from functions.aws_lambda import scheduled_event
from functions.catalog import Catalog, Function, Route, Schedule
from infra.aws.cfn import Resource, Resources, get_att, logical_id, ref, sub
from infra.aws.functions import function_id
from infra.aws.parameters import API_TIMEOUT_CAP_SECONDS
from infra.cron import to_aws

API_TIMEOUT_CAP_MS = API_TIMEOUT_CAP_SECONDS * 1000
_EXECUTE_API = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}"


def http_api(catalog: Catalog) -> Resources:
    """The HTTP API, its stage, and every function's integration, routes and permissions."""
    result: Resources = {
        "HttpApi": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": sub("${AWS::StackName}-api"),
                "ProtocolType": "HTTP",
                "Description": "skiplock job API; each route invokes its function",
            },
        },
        "HttpApiStage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {
                "ApiId": ref("HttpApi"),
                "StageName": "$default",
                "AutoDeploy": True,
                "DefaultRouteSettings": {
                    "ThrottlingRateLimit": ref("ApiRateLimit"),
                    "ThrottlingBurstLimit": ref("ApiBurstLimit"),
                },
            },
        },
    }
    for function in catalog.functions:
        result |= _integration(function)
    return result


def route_id(route: Route) -> str:
    """The logical id of ``route``'s resource, e.g. ``GetJobsJobIdRoute``."""
    return logical_id(route.method.lower(), route.path, "Route")


def _integration(function: Function) -> Resources:
    integration = logical_id(function.name, "Integration")
    result: Resources = {
        integration: {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": ref("HttpApi"),
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": get_att(function_id(function.name), "Arn"),
                "PayloadFormatVersion": "2.0",
                "TimeoutInMillis": min(function.timeout_seconds * 1000, API_TIMEOUT_CAP_MS),
            },
        }
    }
    for route in function.routes:
        result[route_id(route)] = {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": ref("HttpApi"),
                "RouteKey": route.key,
                "Target": sub(f"integrations/${{{integration}}}"),
            },
        }
        # Each route may invoke its own function, and nothing else may through the API.
        path = re.sub(r"\{\w+\}", "*", route.path)
        source = sub(f"{_EXECUTE_API}/*/{route.method}{path}")
        permission = _permission(function.name, "apigateway.amazonaws.com", source)
        result[route_id(route).removesuffix("Route") + "Permission"] = permission
    return result


def schedules(catalog: Catalog) -> Resources:
    """An EventBridge rule per schedule, and the tick functions' asynchronous-invoke settings."""
    result: Resources = {}
    for schedule in catalog.schedules:
        rule = logical_id(schedule.name, "Rule")
        result[rule] = _rule(schedule)
        source = get_att(rule, "Arn")
        result[logical_id(schedule.name, "Permission")] = _permission(
            schedule.target, "events.amazonaws.com", source
        )
    for function in catalog.functions:
        if function.trigger == "schedule":
            result[logical_id(function.name, "InvokeConfig")] = _no_retries(function)
    return result


def _rule(schedule: Schedule) -> Resource:
    target = {
        "Id": schedule.name,
        "Arn": get_att(function_id(schedule.target), "Arn"),
        "Input": json.dumps(scheduled_event(schedule), sort_keys=True),
        "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
    }
    return {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Name": sub("${AWS::StackName}-" + schedule.name),
            "Description": f"skiplock {schedule.name}: {schedule.cron} (UTC) -> {schedule.target}",
            "ScheduleExpression": to_aws(schedule.cron),
            "State": "ENABLED",
            "Targets": [target],
        },
    }


def _no_retries(function: Function) -> Resource:
    # A failed or late tick is not retried: the next scheduled tick does its work, and a retry
    # would only overlap it.
    return {
        "Type": "AWS::Lambda::EventInvokeConfig",
        "Properties": {
            "FunctionName": ref(function_id(function.name)),
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 0,
            "MaximumEventAgeInSeconds": 60,
        },
    }


def _permission(function: str, principal: str, source: Any) -> Resource:
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": ref(function_id(function)),
            "Principal": principal,
            "SourceArn": source,
        },
    }
