"""RECURRING_FILE: recurring schedules declared as code, one ``[[recurring]]`` table each.

```toml
[[recurring]]
name = "nightly-report"      # unique; renaming makes a new schedule
cron = "30 2 * * *"          # five fields: minute hour day month weekday
timezone = "Europe/Paris"    # IANA name, default UTC
type = "pdf"
payload = { title = "Nightly report" }
catch_up = "latest"          # "skip" (default), "latest" or "all"
max_catch_up = 100           # with "all": at most this many missed slots, the latest ones
# queue, priority, max_attempts: optional, as at POST /jobs
```

Every error names the file, the table and the field, e.g.
``recurring.toml: recurring[2] ("nightly-report").cron: ...``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError

from common.enqueue import NewJob
from common.errors import Misconfigured, ValidationError
from common.handlers.registry import Registry
from common.slots import next_slot

CATCH_UP = ("skip", "latest", "all")
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
FIELDS = {
    "name",
    "cron",
    "timezone",
    "type",
    "payload",
    "queue",
    "priority",
    "max_attempts",
    "catch_up",
    "max_catch_up",
}
MAX_CATCH_UP_LIMIT = 1000


class RecurringFileError(Misconfigured):
    """RECURRING_FILE cannot be used; the message names the table and the field."""


@dataclass(frozen=True)
class Recurring:
    """One schedule: its slots (cron in ``timezone``) and the job each slot gets."""

    name: str
    cron: str
    timezone: str
    job: NewJob  # with the type's defaults filled in; each slot's job is this one
    catch_up: str = "skip"
    max_catch_up: int = 100

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def job_for(self, slot: datetime) -> NewJob:
        """The job of ``slot``: due at the slot's time, so missed slots run oldest first."""
        return NewJob(
            self.job.type,
            self.job.payload,
            queue=self.job.queue,
            priority=self.job.priority,
            run_at=slot,
            max_attempts=self.job.max_attempts,
        )


def load(path: str | None, registry: Registry) -> tuple[Recurring, ...]:
    """The schedules of the file at ``path`` (none when RECURRING_FILE is unset), checked
    against ``registry``'s job types; RecurringFileError naming the table and field if not."""
    if path is None:
        return ()
    try:
        document = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise RecurringFileError(
            f"RECURRING_FILE={path}: {exc.strerror}", field="RECURRING_FILE"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecurringFileError(f"{path}: not valid TOML: {exc}", field="RECURRING_FILE") from None
    unknown = sorted(set(document) - {"recurring"})
    if unknown:
        raise RecurringFileError(
            f"{path}: unknown table {unknown[0]!r}: schedules are [[recurring]] tables",
            field=unknown[0],
        )
    tables = document.get("recurring", [])
    if not isinstance(tables, list):
        raise RecurringFileError(
            f"{path}: recurring must be [[recurring]] tables", field="recurring"
        )
    schedules: list[Recurring] = []
    for index, table in enumerate(tables):
        schedule = _one(path, index, table, registry)
        if any(s.name == schedule.name for s in schedules):
            _fail(path, index, table, "name", f"{schedule.name!r} is used by an earlier schedule")
        schedules.append(schedule)
    return tuple(schedules)


def _one(path: str, index: int, table: Any, registry: Registry) -> Recurring:
    if not isinstance(table, dict):
        _fail(path, index, table, "", "must be a table: [[recurring]] with name, cron, type")
    unknown = sorted(set(table) - FIELDS)
    if unknown:
        _fail(path, index, table, unknown[0], f"unknown field (known: {', '.join(sorted(FIELDS))})")
    name = table.get("name")
    if not (isinstance(name, str) and NAME.fullmatch(name)):
        _fail(path, index, table, "name", "is required: 1-128 letters, digits or _.:-")
    timezone = table.get("timezone", "UTC")
    return Recurring(
        name,
        _cron(path, index, table, table.get("cron")),
        _timezone(path, index, table, timezone),
        _job(path, index, table, registry),
        _catch_up(path, index, table),
        _max_catch_up(path, index, table),
    )


def _cron(path: str, index: int, table: dict[str, Any], cron: Any) -> str:
    if not isinstance(cron, str) or len(cron.split()) != 5:
        _fail(
            path,
            index,
            table,
            "cron",
            f"must have five fields (minute hour day month weekday), got {cron!r}",
        )
    try:
        next_slot(cron, ZoneInfo("UTC"), datetime.now(UTC))
    except (CroniterError, ValueError, KeyError, StopIteration) as exc:
        _fail(path, index, table, "cron", f"{cron!r} is not a cron expression that comes: {exc}")
    return " ".join(cron.split())


def _timezone(path: str, index: int, table: dict[str, Any], timezone: Any) -> str:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        _fail(path, index, table, "timezone", f"{timezone!r} is not an IANA time zone name")
    return str(timezone)


def _job(path: str, index: int, table: dict[str, Any], registry: Registry) -> NewJob:
    options = {k: table[k] for k in ("queue", "priority", "max_attempts") if k in table}
    job = NewJob(table.get("type"), table.get("payload", {}), **options)  # type: ignore[arg-type]
    try:
        return job.with_type_rules(registry)  # names the field when type is missing, too
    except ValidationError as exc:
        field = exc.field or "type"
        message = exc.message.removeprefix(f"{field}: ").removeprefix(f"{field} ")
        _fail(path, index, table, field, message)


def _catch_up(path: str, index: int, table: dict[str, Any]) -> str:
    catch_up = table.get("catch_up", "skip")
    if catch_up not in CATCH_UP:
        _fail(path, index, table, "catch_up", f"must be one of {', '.join(CATCH_UP)}")
    return str(catch_up)


def _max_catch_up(path: str, index: int, table: dict[str, Any]) -> int:
    value = table.get("max_catch_up", 100)
    if not (isinstance(value, int) and not isinstance(value, bool)) or not (
        1 <= value <= MAX_CATCH_UP_LIMIT
    ):
        _fail(
            path, index, table, "max_catch_up", f"must be an integer from 1 to {MAX_CATCH_UP_LIMIT}"
        )
    return int(value)


def _fail(path: str, index: int, table: Any, field: str, message: str) -> NoReturn:
    """Name the table by its place in the file (from 1) and its name, if it has one."""
    name = table.get("name") if isinstance(table, dict) else None
    where = f"recurring[{index + 1}]" + (f" ({name!r})" if isinstance(name, str) else "")
    place = f"{where}.{field}" if field else where
    raise RecurringFileError(f"{path}: {place}: {message}", field=f"recurring[{index + 1}].{field}")
