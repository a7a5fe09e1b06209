"""The `skiplock` command: a group of subcommands, each a thin adapter over common/ (and the
API's own request parsing), with one mapping of errors to exit codes:
0 done, 1 failed or not found, 2 bad usage or invalid input (the message names the field)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, NoReturn

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from common import logs
from common.config import Settings
from common.db import availability_error, make_engine
from common.errors import SkiplockError, ValidationError
from functions._http import iso

EXIT_FAILED = 1
EXIT_USAGE = 2


class SkiplockGroup(click.Group):
    """Turns the engine's errors into a message on stderr and the exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            fail(f"invalid {exc.field}: {exc.message}" if exc.field else exc.message, EXIT_USAGE)
        except SkiplockError as exc:
            fail(exc.message, EXIT_FAILED)
        except DBAPIError as exc:
            if (unavailable := availability_error(exc)) is not None:
                fail(f"{unavailable.message} ({exc.orig})", EXIT_FAILED)
            fail(f"database error: {exc.orig}", EXIT_FAILED)
        except SQLAlchemyError as exc:
            fail(f"database error: {exc}", EXIT_FAILED)


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"skiplock: {message}", err=True)
    sys.exit(code)


@cache
def settings() -> Settings:
    """The settings from the environment; a bad one is bad usage, named."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


@cache
def engine() -> Engine:
    return make_engine(settings().database_url, settings().database_timeouts)


def emit_json(data: Any) -> None:
    """``data`` as one JSON document on stdout, times as the API writes them."""
    click.echo(json.dumps(data, default=_encode, indent=2))


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def print_table(columns: Sequence[str], rows: list[list[str]]) -> None:
    """``rows`` under ``columns``, each column as wide as its widest cell."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    for line in [list(columns), *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")


@click.group(cls=SkiplockGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """skiplock: the job queue in your SQL database (at DATABASE_URL), from the command line.

    Exit codes: 0 done, 1 failed or not found, 2 bad usage or invalid input.
    """
    logs.configure(settings().log_format, "WARNING")  # per-transition lines would drown a bar


def run() -> None:
    """The console script's entry point."""
    from cli import jobs, operations  # noqa: F401 - they add their commands to ``main``

    main()
