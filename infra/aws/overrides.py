"""deploy.sh's parameter overrides, checked and completed before CloudFormation sees them.

`python -m infra.aws.overrides Name=Value ...` prints the overrides to pass, one a line:

- a setting may be named as README.md names it (``MAX_ATTEMPTS=8``) or as its parameter
  (``MaxAttempts=8``);
- a name that is neither a parameter of the template nor a setting is refused (CloudFormation's
  ``deploy`` would ignore it silently);
- ``SesSender`` may carry a display name (``Jobs <jobs@example.com>``): ``SesIdentity``, what
  SES verifies and IAM names, is set to its bare address unless given.

A bad override exits with status 2 and a message naming it.
"""

from __future__ import annotations

import sys

from common.handlers.addresses import sender_address
from functions.catalog import CATALOG
from infra import settings as cloud
from infra.aws.parameters import SES_IDENTITY, parameter_name
from infra.aws.template import build

SES_SENDER = parameter_name("SES_SENDER")


def overrides(arguments: list[str]) -> list[str]:
    """``arguments`` (``Name=Value`` each) as the overrides to deploy; ValueError naming a
    bad one."""
    known = set(build(CATALOG)["Parameters"])
    values: dict[str, str] = {}
    for argument in arguments:
        name, equals, value = argument.partition("=")
        name = _parameter(name.strip())
        if not equals:
            raise ValueError(f"{argument!r}: expected Parameter=Value")
        if isinstance(cloud.CLOUD.get(name), cloud.Secret):
            raise ValueError(f"{name} is a secret: put it in its secret, see docs/DEPLOY.md")
        if name not in known:
            raise ValueError(f"{name}: neither a parameter of the template nor a setting")
        if "\n" in value:
            raise ValueError(f"{name}: a value cannot span lines")
        values[name] = value
    if SES_SENDER in values and SES_IDENTITY not in values:
        try:
            values[SES_IDENTITY] = sender_address(values[SES_SENDER])
        except ValueError as exc:
            raise ValueError(f"{SES_SENDER}: {exc}") from None
    return [f"{name}={value}" for name, value in values.items()]


def _parameter(name: str) -> str:
    """A setting's name as its parameter's; any other name as it is."""
    source = cloud.CLOUD.get(name)
    return parameter_name(name) if isinstance(source, cloud.Parameter) else name


def main(argv: list[str] | None = None) -> None:
    try:
        lines = overrides(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        sys.exit(2)
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
