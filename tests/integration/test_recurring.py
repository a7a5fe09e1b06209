"""Recurring schedules on a real database: each slot gets exactly one job, whatever happens.

The clock is injected: each step says what time it is, so a simulated day passes in seconds.
The concurrency test races schedule steps in 'spawn'ed processes on MariaDB.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from common.config import Settings
from common.db import make_engine
from common.handlers.catalog import build_registry
from common.models import jobs, recurring_slots
from common.recurring import describe, enqueue_due, enqueue_slot
from common.recurring_file import load
from common.slots import slots_after
from tests.factories import count_rows

REGISTRY = build_registry(Settings())
PROCESSES = 8
DAY_START = datetime(2024, 3, 30, 22, 0, tzinfo=UTC)  # Berlin's spring change in the middle
DAY = timedelta(days=1)
STEP = timedelta(minutes=10)
DAY_FILE = """
[[recurring]]
name = "every-5-utc"
cron = "*/5 * * * *"
type = "noop"
catch_up = "all"

[[recurring]]
name = "half-hourly-berlin"
cron = "*/30 * * * *"
timezone = "Europe/Berlin"
type = "noop"
catch_up = "all"

[[recurring]]
name = "nightly-berlin"
cron = "30 2 * * *"
timezone = "Europe/Berlin"
type = "noop"
catch_up = "all"
"""


def write(tmp_path: Path, text: str, name: str = "recurring.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def slot_jobs(engine: Engine) -> list[tuple[str, datetime, int]]:
    """(schedule, slot, jobs of that slot) for every slot that has a job, oldest first."""
    query = (
        select(recurring_slots.c.name, recurring_slots.c.slot_time, func.count(jobs.c.id))
        .select_from(recurring_slots.join(jobs, jobs.c.id == recurring_slots.c.job_id))
        .group_by(recurring_slots.c.name, recurring_slots.c.slot_time)
        .order_by(recurring_slots.c.slot_time, recurring_slots.c.name)
    )
    with engine.connect() as conn:
        return [(n, s.replace(tzinfo=UTC), c) for n, s, c in conn.execute(query).all()]


def expected_slots(path: str, start: datetime, end: datetime) -> set[tuple[str, datetime]]:
    """Every slot in [start, end] of the file's schedules."""
    wanted = set()
    for schedule in load(path, REGISTRY):
        for slot in slots_after(schedule.cron, schedule.zone, start - timedelta(seconds=1)):
            if slot > end:
                break
            wanted.add((schedule.name, slot))
    return wanted


def simulate_day(url: str, path: str, start: datetime, steps: int) -> tuple[int, int]:
    """One scheduler's day: a step every STEP from ``start``; (enqueued, found enqueued)."""
    engine = make_engine(url)
    registry = build_registry(Settings())
    enqueued = already = 0
    try:
        for step in range(steps + 1):
            summary = enqueue_due(engine, load(path, registry), registry, now=start + step * STEP)
            enqueued, already = enqueued + summary.enqueued, already + summary.already
    finally:
        engine.dispose()
    return enqueued, already


@pytest.mark.slow
def test_eight_schedulers_racing_over_a_day_give_exactly_one_job_per_slot(
    mariadb_engine: Engine, database_urls: dict[str, str], tmp_path: Path
) -> None:
    path = write(tmp_path, DAY_FILE)
    steps = DAY // STEP
    url = database_urls["mariadb"]
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.starmap(simulate_day, [(url, path, DAY_START, steps)] * PROCESSES)

    found = slot_jobs(mariadb_engine)
    wanted = expected_slots(path, DAY_START, DAY_START + DAY)
    duplicates = [row for row in found if row[2] != 1]
    enqueued = sum(e for e, _ in results)
    raced = sum(a for _, a in results)
    print(f"slots checked: {len(wanted)}, duplicates: {len(duplicates)}, raced inserts: {raced}")
    assert {(name, slot) for name, slot, _ in found} == wanted
    assert duplicates == []
    assert enqueued == len(wanted) == count_rows(mariadb_engine, jobs)  # no job without its slot
    assert raced > 0  # the schedulers did collide on slots, and the key settled it
    # The clocks skip 02:00-03:00 that night: the nightly 02:30 runs at 03:00 (01:00 UTC).
    assert ("nightly-berlin", datetime(2024, 3, 31, 1, 0, tzinfo=UTC)) in wanted
    assert len([s for s in wanted if s[0] == "every-5-utc"]) == 24 * 12 + 1


def test_across_a_daylight_saving_change_a_nightly_schedule_runs_once_a_night(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        '[[recurring]]\nname = "n"\ncron = "30 2 * * *"\ntimezone = "Europe/Berlin"\n'
        'type = "noop"\ncatch_up = "all"\n'
        '[[recurring]]\nname = "h"\ncron = "30 * * * *"\ntimezone = "Europe/Berlin"\n'
        'type = "noop"\n',
    )
    start = datetime(2024, 10, 26, 12, tzinfo=UTC)  # autumn: 02:30 comes twice on the 27th
    simulate_day(db_url, path, start, 2 * (DAY // STEP))

    found = slot_jobs(engine)
    nightly = [slot for name, slot, _ in found if name == "n"]
    hourly = [slot for name, slot, _ in found if name == "h"]
    assert nightly == [
        datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
        datetime(2024, 10, 28, 1, 30, tzinfo=UTC),
    ]
    assert all(count == 1 for _, _, count in found)
    # Hourly at :30 local: 02:30 comes once (the first time), so 47 slots in those 48 hours.
    assert len(hourly) == 47
    assert datetime(2024, 10, 27, 1, 30, tzinfo=UTC) not in hourly  # the repeated 02:30


HOURLY = "".join(
    f'[[recurring]]\nname = "{policy}"\ncron = "0 * * * *"\ntype = "noop"\ncatch_up = "{policy}"\n'
    for policy in ("skip", "latest", "all")
)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 6, 1, hour, minute, tzinfo=UTC)


def test_after_three_hours_without_ticks_each_catch_up_policy_enqueues_its_slots(
    engine: Engine, tmp_path: Path
) -> None:
    schedules = load(write(tmp_path, HOURLY), REGISTRY)
    enqueue_due(engine, schedules, REGISTRY, now=at(8, 0))  # each enqueues 08:00
    # the schedulers are down from 08:00 to 11:30: 09:00, 10:00 and 11:00 are missed
    enqueue_due(engine, schedules, REGISTRY, now=at(11, 30))
    enqueue_due(engine, schedules, REGISTRY, now=at(11, 31))  # nothing more
    enqueue_due(engine, schedules, REGISTRY, now=at(12, 0))

    by_policy: dict[str, list[datetime]] = {}
    for name, slot, _ in slot_jobs(engine):
        by_policy.setdefault(name, []).append(slot)
    assert by_policy == {
        "skip": [at(8), at(12)],
        "latest": [at(8), at(11), at(12)],
        "all": [at(8), at(9), at(10), at(11), at(12)],
    }


def test_a_file_change_between_ticks_stops_removed_schedules_and_starts_new_ones(
    engine: Engine, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        '[[recurring]]\nname = "kept"\ncron = "*/10 * * * *"\ntype = "noop"\ncatch_up = "all"\n'
        '[[recurring]]\nname = "removed"\ncron = "*/10 * * * *"\ntype = "noop"\n',
    )
    enqueue_due(engine, load(path, REGISTRY), REGISTRY, now=at(8, 0))
    enqueue_due(engine, load(path, REGISTRY), REGISTRY, now=at(8, 10))
    # a deploy: "kept" now runs every 15 minutes, "removed" is gone, "renamed" is new
    write(
        tmp_path,
        '[[recurring]]\nname = "kept"\ncron = "*/15 * * * *"\ntype = "noop"\ncatch_up = "all"\n'
        '[[recurring]]\nname = "renamed"\ncron = "*/10 * * * *"\ntype = "noop"\n',
    )
    enqueue_due(engine, load(path, REGISTRY), REGISTRY, now=at(8, 31))

    by_name: dict[str, list[datetime]] = {}
    for name, slot, _ in slot_jobs(engine):
        by_name.setdefault(name, []).append(slot)
    assert by_name == {
        "kept": [at(8, 0), at(8, 10), at(8, 15), at(8, 30)],  # from its last slot, new cron
        "removed": [at(8, 0), at(8, 10)],
        "renamed": [at(8, 30)],  # a new schedule: its on-time slot only
    }


def test_a_slot_enqueued_already_adds_no_job_and_leaves_the_transaction_clean(
    engine: Engine, tmp_path: Path
) -> None:
    one = '[[recurring]]\nname = "skip"\ncron = "0 * * * *"\ntype = "noop"\n'
    (schedule,) = load(write(tmp_path, one), REGISTRY)
    assert enqueue_slot(engine, schedule, at(9), REGISTRY) is True
    assert enqueue_slot(engine, schedule, at(9), REGISTRY) is False  # its job rolled back too
    assert count_rows(engine, jobs) == 1
    assert [(n, s) for n, s, _ in slot_jobs(engine)] == [("skip", at(9))]


def test_the_job_of_a_slot_is_due_at_its_slot_and_the_listing_shows_it(
    engine: Engine, tmp_path: Path
) -> None:
    schedules = load(write(tmp_path, HOURLY), REGISTRY)
    enqueue_due(engine, schedules, REGISTRY, now=at(8, 1))
    with engine.connect() as conn:
        run_at = conn.execute(select(func.min(jobs.c.run_at))).scalar_one()
    assert run_at == datetime(2030, 6, 1, 8)

    listed = describe(engine, schedules, now=at(8, 1))
    assert [(s["name"], s["last_slot"], s["next_slot"], s["last_job_status"]) for s in listed] == [
        (name, at(8), at(9), "CREATED") for name in ("skip", "latest", "all")
    ]


def test_old_slot_rows_are_pruned_but_each_schedules_last_one_is_kept(
    engine: Engine, tmp_path: Path
) -> None:
    one = '[[recurring]]\nname = "kept"\ncron = "0 * * * *"\ntype = "noop"\n'
    schedules = load(write(tmp_path, one), REGISTRY)
    with engine.begin() as conn:
        rows: list[dict[str, Any]] = [
            {"name": name, "slot_time": old, "job_id": 0, "enqueued_at": old}
            for name in ("kept", "gone")
            for old in (datetime(2030, 5, 1), datetime(2030, 5, 2))
        ]
        conn.execute(insert(recurring_slots), rows)
    enqueue_due(engine, schedules, REGISTRY, now=at(7, 30), retention_seconds=86400)

    with engine.connect() as conn:
        kept = conn.execute(select(recurring_slots.c.name, recurring_slots.c.slot_time)).all()
    assert sorted((n, s.day) for n, s in kept) == [("kept", 2)]
