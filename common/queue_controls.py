"""Queue controls: pause, max_running, a per-key limit and a rate limit, kept in the database.

A queue has controls once someone sets them (``PUT /queues/{queue}``, the library's
``set_controls``) or the registry declares them; every function instance reads them at each
claim, so a change takes effect at the next claim of every tick. They are enforced inside the
claim's transaction (common/claim.py): a limited queue's row in ``queue_settings`` is locked
while its jobs are claimed, so the limits hold across any number of concurrent ticks.

- ``paused``: nothing of the queue is claimed; submissions are accepted, statuses kept, and
  jobs already RUNNING finish normally.
- ``max_running``: at most that many of its jobs hold a live lease at any instant (a lease that
  expired frees its slot).
- ``max_running_per_key``: at most that many jobs with the same ``concurrency_key`` hold a
  live lease; jobs of other keys (and jobs without a key) are not held back.
- ``rate_limit``: a token bucket of ``burst`` tokens refilled at ``per_second``; each claimed
  job takes one. Held-back jobs stay SCHEDULED, untouched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, TypeGuard

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from common.db import Bind, run_in_transaction, utcnow
from common.errors import ValidationError
from common.models import jobs, queue_changes, queue_settings
from common.states import Status

MAX_LIMIT = 100_000
DECLARED = "registry"  # updated_by of a row made for a queue the registry declares
MAX_RATE = 1_000_000.0


@dataclass(frozen=True)
class RateLimit:
    per_second: float
    burst: int


@dataclass(frozen=True)
class QueueControls:
    """One queue's controls; the defaults are a queue with none."""

    paused: bool = False
    max_running: int | None = None
    max_running_per_key: int | None = None
    rate_limit: RateLimit | None = None

    @property
    def limited(self) -> bool:
        """Whether claims must count, or take tokens, under the queue's lock."""
        limits = (self.max_running, self.max_running_per_key, self.rate_limit)
        return any(limit is not None for limit in limits)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> QueueControls:
        """Controls from an API body; ValidationError names the field that is wrong."""
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise ValidationError(
                f"unknown field {unknown[0]}; known: {', '.join(FIELDS)}", field=unknown[0]
            )
        paused = body.get("paused", False)
        if not isinstance(paused, bool):
            raise ValidationError("paused must be true or false", field="paused")
        return cls(
            paused=paused,
            max_running=_limit(body, "max_running"),
            max_running_per_key=_limit(body, "max_running_per_key"),
            rate_limit=_rate_limit(body.get("rate_limit")),
        )


FIELDS = ("paused", "max_running", "max_running_per_key", "rate_limit")


def _limit(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not _is_int(value) or not 1 <= value <= MAX_LIMIT:
        raise ValidationError(
            f"{name} must be null or an integer from 1 to {MAX_LIMIT}", field=name
        )
    return int(value)


def _rate_limit(raw: Any) -> RateLimit | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValidationError(
            'rate_limit must be null or {"per_second": number, "burst": integer}',
            field="rate_limit",
        )
    unknown = sorted(set(raw) - {"per_second", "burst"})
    if unknown:
        raise ValidationError(
            f"unknown field rate_limit.{unknown[0]}", field=f"rate_limit.{unknown[0]}"
        )
    per_second = raw.get("per_second")
    if not _is_number(per_second) or not 0 < per_second <= MAX_RATE:
        raise ValidationError(
            f"rate_limit.per_second must be a number above 0, at most {MAX_RATE:g}",
            field="rate_limit.per_second",
        )
    burst = raw.get("burst")
    if not _is_int(burst) or not 1 <= burst <= MAX_LIMIT:
        raise ValidationError(
            f"rate_limit.burst must be an integer from 1 to {MAX_LIMIT}", field="rate_limit.burst"
        )
    return RateLimit(float(per_second), int(burst))


def _is_number(value: object) -> TypeGuard[float]:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value)  # type: ignore[arg-type]


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# --- stored ------------------------------------------------------------------------------------


def read_controls(
    conn: Connection, declared: Mapping[str, QueueControls] | None = None
) -> dict[str, QueueControls]:
    """Every controlled queue's controls: what an operator stored, else what the registry
    declares (a row the claim made for a declared queue follows the declaration)."""
    controls = dict(declared or {})
    for row in conn.execute(select(queue_settings)):
        if row.updated_by != DECLARED or row.queue not in controls:
            controls[row.queue] = _from_row(row)
    return controls


def set_controls(bind: Bind, queue: str, controls: QueueControls, changed_by: str) -> None:
    """Store ``queue``'s controls and audit the change, in one transaction."""

    def store(conn: Connection) -> None:
        values = {
            **_row_values(controls, changed_by),
            # a new or changed limit starts with a full bucket
            "tokens": controls.rate_limit and float(controls.rate_limit.burst),
            "tokens_at": utcnow(),
        }
        held = select(queue_settings.c.queue).where(queue_settings.c.queue == queue)
        if conn.execute(held.with_for_update()).first() is None:
            conn.execute(insert(queue_settings).values(queue=queue, **values))
        else:
            conn.execute(
                update(queue_settings).where(queue_settings.c.queue == queue).values(**values)
            )
        conn.execute(
            insert(queue_changes).values(
                queue=queue,
                changed_at=utcnow(),
                changed_by=changed_by,
                controls=controls.as_json(),
            )
        )

    run_in_transaction(bind, store)


def set_paused(
    bind: Bind,
    queue: str,
    paused: bool,
    changed_by: str,
    declared: Mapping[str, QueueControls] | None = None,
) -> QueueControls:
    """Pause or resume ``queue``, keeping its other controls; returns what is stored now."""
    with bind.connect() if isinstance(bind, Engine) else nullcontext(bind) as conn:
        current = read_controls(conn, declared).get(queue, QueueControls())
    changed = replace(current, paused=paused)
    set_controls(bind, queue, changed, changed_by)
    return changed


def _row_values(controls: QueueControls, changed_by: str) -> dict[str, Any]:
    rate = controls.rate_limit
    return {
        "paused": controls.paused,
        "max_running": controls.max_running,
        "max_running_per_key": controls.max_running_per_key,
        "rate_per_second": rate and rate.per_second,
        "rate_burst": rate and rate.burst,
        "updated_at": utcnow(),
        "updated_by": changed_by,
    }


def _from_row(row: Any) -> QueueControls:
    rate = None
    if row.rate_per_second is not None and row.rate_burst is not None:
        rate = RateLimit(row.rate_per_second, row.rate_burst)
    return QueueControls(bool(row.paused), row.max_running, row.max_running_per_key, rate)


# --- the allowance of a limited queue, inside a claim's transaction -------------------------


@dataclass
class Allowance:
    """How many jobs of a limited queue this claim may take, and per key what is running."""

    jobs: int
    running_by_key: dict[str, int]
    per_key: int | None
    tokens: float | None  # left in the bucket, to write back less what was taken
    now: datetime

    def may_take(self, key: str | None) -> bool:
        if self.per_key is None or key is None:
            return True
        return self.running_by_key.get(key, 0) < self.per_key

    def took(self, key: str | None) -> None:
        self.jobs -= 1
        if key is not None:
            self.running_by_key[key] = self.running_by_key.get(key, 0) + 1

    @property
    def saturated_keys(self) -> list[str]:
        if self.per_key is None:
            return []
        return sorted(k for k, n in self.running_by_key.items() if n >= self.per_key)


def lock_allowance(conn: Connection, queue: str, controls: QueueControls, wanted: int) -> Allowance:
    """Lock ``queue``'s settings row (waiting for another claim of the queue to commit) and say
    what this claim may take. Claims lock queue rows in name order (common/claim.py), so two
    claims never wait for each other's."""
    row = _locked_row(conn, queue)
    if row is None:  # declared in the registry only: make the row its claims lock
        _make_row(conn, queue, controls)
        row = _locked_row(conn, queue)
    allowance = Allowance(wanted, {}, controls.max_running_per_key, None, row.now)
    if controls.max_running is not None or controls.max_running_per_key is not None:
        running = _running_by_key(conn, queue)
        allowance.running_by_key = {k: n for k, n in running.items() if k is not None}
        if controls.max_running is not None:
            free = controls.max_running - sum(running.values())
            allowance.jobs = min(allowance.jobs, max(0, free))
    if controls.rate_limit is not None:
        allowance.tokens = _refill(row.tokens, row.tokens_at, row.now, controls.rate_limit)
        allowance.jobs = min(allowance.jobs, math.floor(allowance.tokens))
    return allowance


def _locked_row(conn: Connection, queue: str) -> Any:
    return conn.execute(
        select(queue_settings.c.tokens, queue_settings.c.tokens_at, utcnow().label("now"))
        .where(queue_settings.c.queue == queue)
        .with_for_update()
    ).first()


def spend(conn: Connection, queue: str, allowance: Allowance, taken: int) -> None:
    """Write the bucket back, less the ``taken`` jobs, as of the claim's now."""
    if allowance.tokens is None:
        return
    conn.execute(
        update(queue_settings)
        .where(queue_settings.c.queue == queue)
        .values(tokens=allowance.tokens - taken, tokens_at=allowance.now)
    )


def _refill(tokens: float | None, since: datetime | None, now: datetime, rate: RateLimit) -> float:
    if tokens is None or since is None:
        return float(rate.burst)
    elapsed = max(0.0, (now - since).total_seconds())
    return min(float(rate.burst), tokens + elapsed * rate.per_second)


def _running_by_key(conn: Connection, queue: str) -> dict[str | None, int]:
    """The queue's jobs holding a live lease, counted by concurrency_key."""
    rows = conn.execute(
        select(jobs.c.concurrency_key, func.count())
        .where(
            jobs.c.status == Status.RUNNING,
            jobs.c.queue == queue,
            jobs.c.locked_until > utcnow(),
        )
        .group_by(jobs.c.concurrency_key)
    )
    return {key: int(n) for key, n in rows}


def _make_row(conn: Connection, queue: str, controls: QueueControls) -> None:
    """Make the row a registry-declared queue's claims lock; a concurrent claim may have made
    it first, which is as good."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(queue_settings).values(queue=queue, **_row_values(controls, DECLARED))
            )
    except IntegrityError:
        pass


# --- what GET /queues shows ---------------------------------------------------------------


def queue_overview(
    conn: Connection, declared: Mapping[str, QueueControls] | None = None
) -> list[dict[str, Any]]:
    """Every queue that has jobs or controls: its jobs counted by status, and its controls."""
    counts = _counts(conn)
    controls = read_controls(conn, declared)
    return [
        queue_json(name, controls.get(name, QueueControls()), counts.get(name, {}))
        for name in sorted(set(counts) | set(controls))
    ]


def one_queue(
    conn: Connection, queue: str, declared: Mapping[str, QueueControls] | None = None
) -> dict[str, Any]:
    """``queue`` as queue_overview shows it, counting only its own jobs."""
    controls = read_controls(conn, declared).get(queue, QueueControls())
    return queue_json(queue, controls, _counts(conn, queue).get(queue, {}))


def _counts(conn: Connection, queue: str | None = None) -> dict[str, dict[str, int]]:
    by_status = select(jobs.c.queue, jobs.c.status, func.count()).group_by(
        jobs.c.status, jobs.c.queue
    )
    if queue is not None:
        by_status = by_status.where(jobs.c.queue == queue)
    counts: dict[str, dict[str, int]] = {}
    for name, status, n in conn.execute(by_status):
        counts.setdefault(name, {})[status] = int(n)
    return counts


def queue_json(name: str, controls: QueueControls, counts: Mapping[str, int]) -> dict[str, Any]:
    return {
        "queue": name,
        **controls.as_json(),
        "counts": {status.value: counts.get(status.value, 0) for status in Status},
    }
