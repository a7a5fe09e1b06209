"""Five-field cron expressions (minute hour day month weekday, UTC) in the clouds' dialects.

Google Cloud Scheduler takes the five fields as they are. AWS wants six fields, its weekdays
numbered 1-7 from Sunday rather than 0-6, steps from a start value ("0/5", not "*/5"), and a
"?" in one of day-of-month and day-of-week.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"\d+")


def to_aws(cron: str) -> str:
    """``cron`` as an EventBridge schedule expression, e.g. ``cron(0/5 * * * ? *)``."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"a cron expression has five fields, not {len(fields)}: {cron!r}")
    minute, hour, day, month, weekday = fields
    if weekday == "*":
        weekday = "?"
    elif day == "*":
        day = "?"
    else:
        raise ValueError(f"AWS cannot restrict both day of month and weekday: {cron!r}")
    minute, hour = _start_step(minute, "0"), _start_step(hour, "0")
    day, month = _start_step(day, "1"), _start_step(month, "1")
    return f"cron({minute} {hour} {day} {month} {_aws_weekday(weekday)} *)"


def _start_step(field: str, first: str) -> str:
    # AWS documents steps from a start value ("0/5"), not from "*".
    return first + field[1:] if field.startswith("*/") else field


def _aws_weekday(field: str) -> str:
    if "/" in field:
        raise ValueError(f"weekday steps are not supported: {field!r}")
    converted = _NUMBER.sub(lambda m: str(int(m.group()) % 7 + 1), field).upper()
    for start, end in re.findall(r"(\d)-(\d)", converted):
        if start > end:
            raise ValueError(f"weekday range {field!r} wraps past Sunday; write it as a list")
    return converted
