"""Cron slots in an IANA zone as UTC instants, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

from common.slots import next_slot, slots_after, slots_back, to_utc

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_a_daily_slot_keeps_its_wall_time_across_the_change_and_moves_in_utc() -> None:
    slots = list(islice(slots_after("0 9 * * *", BERLIN, utc(2024, 3, 29)), 4))
    assert slots == [
        utc(2024, 3, 29, 8),
        utc(2024, 3, 30, 8),
        utc(2024, 3, 31, 7),
        utc(2024, 4, 1, 7),
    ]


def test_a_wall_time_the_clocks_skip_runs_once_when_they_skip_to_the_new_time() -> None:
    # 2024-03-31 in Berlin: 02:00 CET -> 03:00 CEST (01:00 UTC); 02:30 does not exist.
    slots = list(islice(slots_after("30 2 * * *", BERLIN, utc(2024, 3, 30, 12)), 2))
    assert slots == [utc(2024, 3, 31, 1), utc(2024, 4, 1, 0, 30)]
    assert slots[0].astimezone(BERLIN).hour == 3


def test_skipped_wall_times_of_a_frequent_schedule_collapse_into_one_slot() -> None:
    slots = list(islice(slots_after("*/30 * * * *", BERLIN, utc(2024, 3, 31, 0, 15)), 3))
    # 01:30 CET, then 02:00 and 02:30 (skipped) and 03:00 CEST: one slot at 01:00 UTC
    assert slots == [utc(2024, 3, 31, 0, 30), utc(2024, 3, 31, 1), utc(2024, 3, 31, 1, 30)]


def test_a_wall_time_the_clocks_repeat_runs_once_the_first_time() -> None:
    # 2024-11-03 in New York: 02:00 EDT -> 01:00 EST; 01:30 comes twice (05:30 and 06:30 UTC).
    slots = list(islice(slots_after("30 1 * * *", NEW_YORK, utc(2024, 11, 2, 12)), 2))
    assert slots == [utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)]
    hourly = list(islice(slots_after("30 * * * *", NEW_YORK, utc(2024, 11, 3, 4)), 3))
    assert hourly == [utc(2024, 11, 3, 4, 30), utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 7, 30)]


def test_looking_back_from_inside_the_repeated_hour_finds_the_first_pass_slots() -> None:
    # 01:10 EST (06:10 UTC) is the second pass: 01:30 EDT (05:30 UTC) has come already.
    back = list(islice(slots_back("30 * * * *", NEW_YORK, utc(2024, 11, 3, 6, 10)), 2))
    assert back == [utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 4, 30)]


def test_back_and_forth_agree_over_a_year_of_changes() -> None:
    start, end = utc(2023, 12, 31, 23), utc(2024, 12, 31, 23)  # the year in Berlin
    forward = []
    for slot in slots_after("15 */3 * * *", BERLIN, start):
        if slot > end:
            break
        forward.append(slot)
    backward = []
    for slot in slots_back("15 */3 * * *", BERLIN, end):
        if slot <= start:
            break
        backward.append(slot)
    assert forward == sorted(backward)
    assert forward == sorted(set(forward))  # strictly increasing: no slot twice
    assert len(forward) == 366 * 8  # every wall time of 2024 (Berlin) exactly once


def test_a_slot_at_the_instant_itself_is_due_and_not_next() -> None:
    assert next(slots_back("0 * * * *", ZoneInfo("UTC"), utc(2030, 1, 1, 10))) == utc(
        2030, 1, 1, 10
    )
    assert next_slot("0 * * * *", ZoneInfo("UTC"), utc(2030, 1, 1, 10)) == utc(2030, 1, 1, 11)


def test_to_utc_reads_an_existing_wall_time_with_its_offset() -> None:
    assert to_utc(datetime(2024, 7, 1, 12), BERLIN) == utc(2024, 7, 1, 10)
