"""Recurring jobs: each due slot of each schedule gets exactly one job.

A slot's job and its row in ``recurring_slots`` (primary key: name, slot time) are inserted in
one transaction. Any number of schedule ticks may fire at once, late, or with a changed file:
a second insert of a slot fails on the key and takes its job with it, so one job results (as
Solid Queue's recurring executions); a crash leaves both or neither.

Which slots are due after the last one enqueued (``catch_up``):
- ``skip``: only slots no more than MISSED_AFTER_SECONDS old; older missed ones are dropped;
- ``latest``: the newest slot that has come, once;
- ``all``: every slot since the last one, at most ``max_catch_up`` (the newest ones).
A schedule with no slot yet (new, or renamed) starts with its latest on-time slot, if any.
Removing a schedule from the file stops it; its rows are pruned after RETENTION_SECONDS.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice, takewhile
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from common.db import Bind, run_in_transaction, utcnow
from common.enqueue import enqueue
from common.handlers.registry import Registry
from common.models import jobs, recurring_slots
from common.recurring_file import Recurring
from common.slots import next_slot, slots_back

# A slot is missed when no schedule tick (about one a minute) enqueued it within this long.
MISSED_AFTER_SECONDS = 120.0
MISSED_AFTER = timedelta(seconds=MISSED_AFTER_SECONDS)


@dataclass
class RecurringSummary:
    """What one recurring step did: slots it enqueued, and slots another tick had enqueued."""

    enqueued: int = 0
    already: int = 0


def due_slots(schedule: Recurring, now: datetime, last: datetime | None) -> list[datetime]:
    """The slots of ``schedule`` to enqueue at ``now`` after its ``last`` one, oldest first."""
    on_time = now - MISSED_AFTER
    floor = on_time if last is None else last
    if schedule.catch_up == "skip":
        floor = max(floor, on_time)
    limit = {"skip": None, "latest": 1, "all": schedule.max_catch_up}[schedule.catch_up]
    if last is None:
        limit = 1
    newer = takewhile(lambda slot: slot > floor, slots_back(schedule.cron, schedule.zone, now))
    return sorted(islice(newer, limit))


def enqueue_due(
    bind: Bind,
    schedules: Sequence[Recurring],
    registry: Registry,
    *,
    now: datetime | None = None,
    retention_seconds: float | None = None,
) -> RecurringSummary:
    """Enqueue every due slot of ``schedules`` at ``now`` (default: the database's clock), then
    prune slot rows older than ``retention_seconds`` (each schedule's last one is kept)."""
    at = now or _database_now(bind)
    lasts = last_slots(bind, [s.name for s in schedules])
    summary = RecurringSummary()
    for schedule in schedules:
        for slot in due_slots(schedule, at, lasts.get(schedule.name)):
            if enqueue_slot(bind, schedule, slot, registry):
                summary.enqueued += 1
            else:
                summary.already += 1
    if retention_seconds is not None:
        run_in_transaction(
            bind,
            partial(_prune, schedules=schedules, cutoff=at - timedelta(seconds=retention_seconds)),
        )
    return summary


def enqueue_slot(bind: Bind, schedule: Recurring, slot: datetime, registry: Registry) -> bool:
    """Add the job of ``slot`` and claim the slot, in one transaction; False if the slot had
    its job already (another tick enqueued it)."""

    def work(conn: Connection) -> None:
        job = enqueue(conn, schedule.job_for(slot), registry=registry)
        conn.execute(
            insert(recurring_slots).values(
                name=schedule.name, slot_time=_naive(slot), job_id=job.id, enqueued_at=utcnow()
            )
        )

    try:
        run_in_transaction(bind, work)
    except IntegrityError:  # the slot's key: its job was rolled back with it
        return False
    return True


def last_slots(bind: Bind, names: Sequence[str]) -> dict[str, datetime]:
    """Each named schedule's last enqueued slot (UTC); schedules without one are left out."""
    if not names:
        return {}
    query = (
        select(recurring_slots.c.name, func.max(recurring_slots.c.slot_time))
        .where(recurring_slots.c.name.in_(names))
        .group_by(recurring_slots.c.name)
    )
    with _connect(bind) as conn:
        return {name: _aware(slot) for name, slot in conn.execute(query).all()}


def describe(
    bind: Bind, schedules: Sequence[Recurring], now: datetime | None = None
) -> list[dict[str, Any]]:
    """Each schedule as GET /recurring shows it: its next slot, its last enqueued slot and that
    slot's job (id and status; the status is None once the job was pruned)."""
    at = now or _database_now(bind)
    listed = []
    with _connect(bind) as conn:
        for schedule in schedules:
            last = conn.execute(
                select(recurring_slots.c.slot_time, recurring_slots.c.job_id, jobs.c.status)
                .select_from(recurring_slots.outerjoin(jobs, jobs.c.id == recurring_slots.c.job_id))
                .where(recurring_slots.c.name == schedule.name)
                .order_by(recurring_slots.c.slot_time.desc())
                .limit(1)
            ).first()
            listed.append(
                {
                    "name": schedule.name,
                    "cron": schedule.cron,
                    "timezone": schedule.timezone,
                    "type": schedule.job.type,
                    "queue": schedule.job.queue,
                    "catch_up": schedule.catch_up,
                    "max_catch_up": schedule.max_catch_up,
                    "next_slot": next_slot(schedule.cron, schedule.zone, at),
                    "last_slot": None if last is None else _aware(last.slot_time),
                    "last_job_id": None if last is None else last.job_id,
                    "last_job_status": None if last is None else last.status,
                }
            )
    return listed


def _prune(conn: Connection, schedules: Sequence[Recurring], cutoff: datetime) -> None:
    names = [s.name for s in schedules]
    old = recurring_slots.c.slot_time < _naive(cutoff)
    conn.execute(delete(recurring_slots).where(old, recurring_slots.c.name.not_in(names)))
    for name, last in last_slots(conn, names).items():
        conn.execute(
            delete(recurring_slots).where(
                and_(
                    old, recurring_slots.c.name == name, recurring_slots.c.slot_time < _naive(last)
                )
            )
        )


def _database_now(bind: Bind) -> datetime:
    with _connect(bind) as conn:
        return _aware(conn.execute(select(utcnow())).scalar_one())


@contextmanager
def _connect(bind: Bind) -> Iterator[Connection]:
    """A connection for reads: an engine lends one; a given connection is used as it is."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)
