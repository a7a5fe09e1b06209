"""The slots of a cron expression in an IANA time zone, as UTC instants.

croniter walks the zone's wall clock (naive local times, plain calendar arithmetic); each wall
time becomes one UTC instant here, so that daylight-saving changes are decided in one place:

- a wall time the clocks skip (spring forward: 02:30 on the night clocks go 02:00 -> 03:00)
  happens at the moment the clocks skip to (03:00 new time); several such slots are one;
- a wall time the clocks repeat (autumn: 02:30 comes twice) happens once, the first time.

So the UTC instants never go backwards as the wall times go forwards, and every wall time the
cron names has exactly one slot.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

ONE_SECOND = timedelta(seconds=1)


def to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of the naive wall time ``wall`` in ``zone``, by the rules above."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # it exists; fold=0 is its first occurrence when repeated
    return _gap_end(wall, zone)


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant the clocks skipped over ``wall`` (a time in a gap): the gap's end."""
    # fold=1 reads the wall time with the offset after the change, fold=0 with the one before;
    # the change happened between the two readings. Offsets change on whole seconds.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    after = high.astimezone(zone).utcoffset()
    while high - low > ONE_SECOND:
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high


def slots_after(cron: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """The slots strictly after the UTC instant ``after``, in order."""
    walls = croniter(cron, after.astimezone(zone).replace(tzinfo=None))
    last = after
    while True:
        slot = to_utc(walls.get_next(datetime), zone)
        if slot > last:
            last = slot
            yield slot


def slots_back(cron: str, zone: ZoneInfo, until: datetime) -> Iterator[datetime]:
    """The slots at or before the UTC instant ``until``, newest first."""
    local = until.astimezone(zone)
    start = local.replace(tzinfo=None) + ONE_SECOND
    if local.fold:  # in a repeated hour's second pass: its first pass's later slots are older
        first_pass = local.replace(fold=0).utcoffset()
        second_pass = local.utcoffset()
        assert first_pass is not None and second_pass is not None
        start += first_pass - second_pass
    walls = croniter(cron, start)
    last: datetime | None = None
    while True:
        slot = to_utc(walls.get_prev(datetime), zone)
        if slot <= until and (last is None or slot < last):
            last = slot
            yield slot


def next_slot(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The first slot strictly after the UTC instant ``after``."""
    return next(slots_after(cron, zone, after))
