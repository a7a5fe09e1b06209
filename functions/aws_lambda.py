"""AWS Lambda handlers: one per function of the catalog (functions/catalog.py), each a thin
adapter, named as the function: the template's Handler is ``functions.aws_lambda.<name>``.

An API Gateway HTTP API event (payload v2) goes through apig-wsgi to the gateway app mounting
only that function's routes: the same view the functions-framework serves. A scheduled event
(the input infra/aws/template.yaml gives each EventBridge rule, see ``scheduled_event``)
becomes a POST of its body to the tick's route with SCHEDULER_TOKEN as bearer token: IAM has
already decided that only the schedule's rule may invoke the function that way.

At cold start the secrets named by the *_SECRET_ARN variables fill the variables the settings
read (``API_TOKEN_SECRET_ARN`` fills API_TOKEN, and so on for every secret setting the
template passes; DATABASE_SECRET_ARN gives DATABASE_URL), before any setting is read.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import urllib.request
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import boto3
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from apig_wsgi import make_lambda_handler
from sqlalchemy import URL

from common.db import MIGRATIONS_DIR, make_engine, migrate
from functions._http import settings
from functions.catalog import CATALOG, Schedule
from functions.gateway import create_gateway

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
log = logging.getLogger("skiplock.lambda")
SECRET_ARN = "_SECRET_ARN"  # <SETTING>_SECRET_ARN names the secret holding SETTING
DATABASE_SECRET_ARN = "DATABASE_SECRET_ARN"  # the database user: DATABASE_URL is made from it


class TickFailed(RuntimeError):
    """A scheduled tick answered with an error; raised so Lambda counts the invocation failed."""


def scheduled_event(schedule: Schedule) -> dict[str, Any]:
    """The event ``schedule``'s EventBridge rule sends its function (the rule's fixed input).

    It names no budget: the function's own setting (WORKER_BUDGET_SECONDS or
    SCHEDULE_BUDGET_SECONDS) gives it, as the local cron's ticks do.
    """
    return {"schedule": schedule.name, "body": {}}


def load_secrets(env: MutableMapping[str, str] | None = None, client: Any = None) -> None:
    """Fill each SETTING named by a SETTING_SECRET_ARN variable, and DATABASE_URL, from
    Secrets Manager where unset."""
    env = os.environ if env is None else env
    wanted = {
        name.removesuffix(SECRET_ARN): arn
        for name, arn in env.items()
        if name.endswith(SECRET_ARN) and name != DATABASE_SECRET_ARN and arn
        if not env.get(name.removesuffix(SECRET_ARN))
    }
    if env.get(DATABASE_SECRET_ARN) and not env.get("DATABASE_URL"):
        wanted["DATABASE_URL"] = env[DATABASE_SECRET_ARN]
    if not wanted:
        return
    client = client or boto3.client("secretsmanager")
    for variable, arn in wanted.items():
        value = str(client.get_secret_value(SecretId=arn)["SecretString"])
        env[variable] = (
            database_url(json.loads(value), env) if variable == "DATABASE_URL" else value
        )


def database_url(secret: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The URL of the MySQL database at DATABASE_HOST/PORT/NAME, as the secret's user."""
    url = URL.create(
        "mysql+pymysql",
        username=secret["username"],
        password=secret["password"],
        host=env["DATABASE_HOST"],
        port=int(env.get("DATABASE_PORT") or 3306),
        database=env["DATABASE_NAME"],
    )
    return url.render_as_string(hide_password=False)


@functools.cache
def _wsgi_handler(name: str) -> LambdaHandler:
    load_secrets()
    return make_lambda_handler(create_gateway(CATALOG, only={name}))


def _handler(name: str) -> LambdaHandler:
    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        serve = _wsgi_handler(name)  # the first call reads the secrets, before any setting
        if "requestContext" in event:  # from API Gateway
            return serve(event, context)
        response = serve(tick_request(name, event), context)
        log.info("%s %s: %s", name, response["statusCode"], response.get("body"))
        if response["statusCode"] >= 400:
            raise TickFailed(f"{name} answered {response['statusCode']}: {response.get('body')}")
        return response

    handle.__name__ = handle.__qualname__ = name
    handle.__doc__ = f"The Lambda handler of {name}: HTTP API events and, for ticks, schedules."
    return handle


def tick_request(name: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """The HTTP API event that asks the tick ``name`` for what the scheduled ``event`` asks."""
    function = CATALOG.function(name)
    if function.trigger != "schedule":
        raise ValueError(f"{name} takes HTTP API events only, not {sorted(event)}")
    if "schedule" in event:
        body = dict(event.get("body") or {})
    elif event.get("detail-type") == "Scheduled Event":  # a rule without a fixed input
        body = {}
    else:
        raise ValueError(f"{name} cannot handle an event with keys {sorted(event)}")
    body.setdefault("budget_seconds", CATALOG.schedules_of(name)[0].budget(settings()))
    route = function.routes[0]
    headers = {"content-type": "application/json"}
    if settings().scheduler_token:
        headers["authorization"] = f"Bearer {settings().scheduler_token}"
    return {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": route.path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {
                "method": route.method,
                "path": route.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
            }
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def migrate_database(event: Mapping[str, Any], context: Any) -> None:
    """CloudFormation custom resource: `alembic upgrade head` on create and update.

    Deleting the resource leaves the database alone. The answer goes to CloudFormation
    whatever happens, or the stack would wait for it for an hour.
    """
    status, reason = "SUCCESS", "migrated"
    try:
        if event["RequestType"] not in ("Create", "Update"):
            reason = "the database is kept"
        else:
            load_secrets()
            ahead = unknown_revisions(os.environ["DATABASE_URL"])
            if ahead:  # a rollback to older code: its schema must still work, see DEPLOY.md
                reason = f"the database is at {ahead}, newer than this code: left as it is"
            else:
                migrate(os.environ["DATABASE_URL"])
    except Exception as exc:
        log.exception("migration failed")
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:1000]
    _answer_cloudformation(event, status, reason)


def unknown_revisions(url: str) -> list[str]:
    """The database's alembic revisions that this code's migrations do not know."""
    known = {script.revision for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
    return sorted(set(current) - known)


def _answer_cloudformation(event: Mapping[str, Any], status: str, reason: str) -> None:
    body = {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": "skiplock-database-migration",
        **{k: event[k] for k in ("StackId", "RequestId", "LogicalResourceId")},
    }
    request = urllib.request.Request(
        event["ResponseURL"],
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": ""},  # the presigned URL is signed for no content type
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


# Module attributes, not a lookup: Lambda resolves a Handler string with getattr on import.
globals().update({function.name: _handler(function.name) for function in CATALOG.functions})
