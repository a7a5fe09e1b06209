"""CloudFormation building blocks: intrinsic functions and logical ids."""

from __future__ import annotations

import re
from typing import Any

Resource = dict[str, Any]
Resources = dict[str, Resource]


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def get_att(resource: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def logical_id(*parts: str) -> str:
    """``("submit_job", "Function")`` -> ``SubmitJobFunction``: alphanumeric, as CFN requires."""
    words = [w for part in parts for w in re.split(r"[^A-Za-z0-9]+", part) if w]
    return "".join(w[:1].upper() + w[1:] for w in words)


def dashed(name: str) -> str:
    """``submit_job`` -> ``submit-job``, for names AWS shows to people."""
    return name.replace("_", "-")


def policy(name: str, *statements: dict[str, Any]) -> dict[str, Any]:
    """An inline IAM policy allowing ``statements``."""
    return {
        "PolicyName": name,
        "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
    }


def allow(actions: list[str], resources: list[Any]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def service_role(service: str, *policies: dict[str, Any]) -> Resource:
    """An IAM role that ``service`` (e.g. lambda.amazonaws.com) assumes, with ``policies``."""
    trust = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
            "Policies": list(policies),
        },
    }
