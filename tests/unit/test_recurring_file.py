"""RECURRING_FILE: a good file gives its schedules; a bad one an error naming table and field."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.config import Settings
from common.handlers.catalog import build_registry
from common.recurring import due_slots
from common.recurring_file import Recurring, RecurringFileError, load

REPO = Path(__file__).resolve().parents[2]
REGISTRY = build_registry(Settings())
GOOD = """
[[recurring]]
name = "nightly"
cron = "30 2 * * *"
timezone = "Europe/Paris"
type = "sleep"
payload = { seconds = 1 }
catch_up = "all"
max_catch_up = 5
priority = 3

[[recurring]]
name = "often"
cron = "*/5 * * * *"
type = "noop"
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "recurring.toml"
    path.write_text(text)
    return str(path)


def test_a_good_file_gives_its_schedules_with_the_types_defaults(tmp_path: Path) -> None:
    nightly, often = load(write(tmp_path, GOOD), REGISTRY)
    assert (nightly.name, nightly.cron, nightly.timezone, nightly.catch_up) == (
        "nightly",
        "30 2 * * *",
        "Europe/Paris",
        "all",
    )
    assert (nightly.job.type, nightly.job.payload, nightly.job.priority) == (
        "sleep",
        {"seconds": 1},
        3,
    )
    assert (often.timezone, often.catch_up, often.max_catch_up, often.job.queue) == (
        "UTC",
        "skip",
        100,
        "default",
    )


def test_no_file_setting_means_no_schedules() -> None:
    assert load(None, REGISTRY) == ()


def test_the_repository_example_loads() -> None:
    assert [s.name for s in load(str(REPO / "recurring.toml"), REGISTRY)] == ["heartbeat"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            ('cron = "*/5 * * * *"', 'cron = "*/5 * * *"'),
            "recurring[2] ('often').cron: must have five",
        ),
        (('cron = "*/5 * * * *"', 'cron = "61 * * * *"'), "recurring[2] ('often').cron:"),
        (('cron = "*/5 * * * *"', 'cron = "0 0 30 2 *"'), "recurring[2] ('often').cron:"),
        (
            ('timezone = "Europe/Paris"', 'timezone = "Mars/Olympus"'),
            "recurring[1] ('nightly').timezone:",
        ),
        (
            ('type = "noop"', 'type = "nope"'),
            "recurring[2] ('often').type: unknown job type 'nope'",
        ),
        (("seconds = 1", 'seconds = "soon"'), "recurring[1] ('nightly').payload.seconds:"),
        (
            ('catch_up = "all"', 'catch_up = "some"'),
            "recurring[1] ('nightly').catch_up: must be one of",
        ),
        (("max_catch_up = 5", "max_catch_up = 0"), "recurring[1] ('nightly').max_catch_up:"),
        (("priority = 3", "prio = 3"), "recurring[1] ('nightly').prio: unknown field"),
        (
            ('name = "often"', 'name = "nightly"'),
            "recurring[2] ('nightly').name: 'nightly' is used",
        ),
        (('name = "often"', 'name = "two words"'), "recurring[2] ('two words').name: is required"),
        (
            ('type = "noop"', 'type = "webhook"'),
            "recurring[2] ('often').type: 'webhook' jobs are made",
        ),
        (("[[recurring]]", "[[recurrent]]"), "unknown table 'recurrent'"),
        (("[[recurring]]", "[[recurring"), "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_table_and_the_field(
    tmp_path: Path, change: tuple[str, str], where: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(RecurringFileError) as raised:
        load(path, REGISTRY)
    assert raised.value.message.startswith(f"{path}: ")
    assert where in raised.value.message
    assert raised.value.status == 503


def test_a_missing_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(RecurringFileError, match=r"RECURRING_FILE=.*absent\.toml"):
        load(str(tmp_path / "absent.toml"), REGISTRY)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2030, 6, 1, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def schedules(tmp_path: Path) -> dict[str, Recurring]:
    text = "".join(
        f'[[recurring]]\nname = "{name}"\ncron = "0 * * * *"\ntype = "noop"\n'
        f'catch_up = "{policy}"\nmax_catch_up = {limit}\n'
        for name, policy, limit in [
            ("skip", "skip", 100),
            ("latest", "latest", 100),
            ("all", "all", 100),
            ("all-2", "all", 2),
        ]
    )
    return {s.name: s for s in load(write(tmp_path, text), REGISTRY)}


def test_after_a_three_hour_gap_each_policy_picks_its_slots(
    schedules: dict[str, Recurring],
) -> None:
    last, now = at(8), at(11, 30)  # slots 09:00, 10:00 and 11:00 were missed
    due = {name: due_slots(s, now, last) for name, s in schedules.items()}
    assert due == {
        "skip": [],
        "latest": [at(11)],
        "all": [at(9), at(10), at(11)],
        "all-2": [at(10), at(11)],
    }
    # skip: the next slot runs when it comes
    assert due_slots(schedules["skip"], at(12, 0, 30), last) == [at(12)]


def test_a_schedule_without_a_slot_yet_starts_with_its_latest_on_time_slot(
    schedules: dict[str, Recurring],
) -> None:
    for schedule in schedules.values():
        assert due_slots(schedule, at(11, 30), None) == []
        assert due_slots(schedule, at(12, 1), None) == [at(12)]
    every_minute = replace(schedules["all"], cron="* * * * *")
    assert due_slots(every_minute, at(12, 1, 30), None) == [at(12, 1)]  # not 12:00 too
