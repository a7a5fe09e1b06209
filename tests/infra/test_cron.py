"""Five-field cron expressions in EventBridge's dialect."""

from __future__ import annotations

import pytest

from functions.catalog import CATALOG, Schedule
from infra.cron import to_aws


@pytest.mark.parametrize(
    ("cron", "aws"),
    [
        ("* * * * *", "cron(* * * * ? *)"),
        ("*/5 * * * *", "cron(0/5 * * * ? *)"),
        ("0 */2 * * *", "cron(0 0/2 * * ? *)"),
        ("0 3 1 * *", "cron(0 3 1 * ? *)"),
        ("0 3 * * 1-5", "cron(0 3 ? * 2-6 *)"),
        ("0 0 * * 0,6", "cron(0 0 ? * 1,7 *)"),
        ("30 6 * * 7", "cron(30 6 ? * 1 *)"),
        ("0 0 * * mon", "cron(0 0 ? * MON *)"),
    ],
)
def test_a_cron_expression_becomes_its_eventbridge_form(cron: str, aws: str) -> None:
    assert to_aws(cron) == aws


@pytest.mark.parametrize(
    ("cron", "error"),
    [
        ("* * * *", "five fields"),
        ("0 0 1 * 1", "both day of month and weekday"),
        ("0 0 * * 5-7", "wraps past Sunday"),
        ("0 0 * * */2", "steps"),
    ],
)
def test_what_eventbridge_cannot_say_is_refused(cron: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        to_aws(cron)


@pytest.mark.parametrize("schedule", CATALOG.schedules, ids=lambda s: s.name)
def test_every_schedule_of_catalog_converts(schedule: Schedule) -> None:
    assert to_aws(schedule.cron).startswith("cron(")
