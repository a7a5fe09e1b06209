"""One worker tick: claim a batch, run it, finish it, and again, until the time budget is spent.

A tick never starts a job whose timeout does not fit in what is left of its budget; jobs it
claimed but did not start go straight back to the queue. Finished attempts are written in
batches (at most ``FLUSH_SECONDS`` late), so a crash can lose at most that much finished work,
which the lease then hands to another worker: execution is at least once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import pydantic
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from common.claim import claim, extend_lease, extend_leases, release
from common.config import Settings
from common.errors import PermanentJobError, ValidationError
from common.finish import finish
from common.handlers.registry import Job, JobContext, JobType, Registry
from common.retry import BackoffPolicy
from common.schedule import promote_due
from common.transitions import ClaimedJob, Finished

log = logging.getLogger("skiplock.worker")
FLUSH_SECONDS = 0.05
PROMOTE_EVERY_SECONDS = 1.0
MAX_ERROR_CHARS = 4000
_DEFAULTS = Settings()


@dataclass(frozen=True)
class TickOptions:
    """How one tick works: who it is, how much it takes at once, and for how long.

    The defaults are the settings' defaults; ``from_settings`` takes a deployment's values.
    """

    worker_id: str
    budget_seconds: float
    batch_size: int = _DEFAULTS.worker_batch_size
    lease_seconds: float = _DEFAULTS.lease_seconds
    poll_seconds: float = _DEFAULTS.worker_poll_seconds
    backoff: BackoffPolicy = field(default_factory=lambda: _DEFAULTS.backoff)
    max_jobs: int | None = None
    queues: Sequence[str] | None = None
    stop_when_idle: bool = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        worker_id: str,
        budget_seconds: float,
        max_jobs: int | None = None,
        queues: Sequence[str] | None = None,
    ) -> TickOptions:
        """A tick of ``budget_seconds`` as ``settings`` configure ticks."""
        return cls(
            worker_id=worker_id,
            budget_seconds=budget_seconds,
            batch_size=settings.worker_batch_size,
            lease_seconds=settings.lease_seconds,
            poll_seconds=settings.worker_poll_seconds,
            backoff=settings.backoff,
            max_jobs=max_jobs,
            queues=queues,
        )


@dataclass
class TickSummary:
    """What a tick did, as the worker_tick function reports it."""

    promoted: int = 0
    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    dead_lettered: int = 0
    released: int = 0
    lease_lost: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def work_tick(
    engine: Engine,
    registry: Registry,
    options: TickOptions,
    clock: Callable[[], float] = time.monotonic,
) -> TickSummary:
    """Run jobs until ``options.budget_seconds`` is nearly spent (or ``max_jobs`` started)."""
    with engine.connect() as conn:  # one connection for the whole tick, not one per statement
        return _Tick(engine, conn, registry, options, clock).run()


class _Tick:
    def __init__(
        self,
        engine: Engine,
        conn: Connection,
        registry: Registry,
        options: TickOptions,
        clock: Callable[[], float],
    ) -> None:
        self.conn, self.registry, self.options, self.clock = conn, registry, options, clock
        self.deadline = clock() + options.budget_seconds
        self.summary = TickSummary()
        self.pending: list[Finished] = []
        self.pending_since = 0.0
        self.last_promote = float("-inf")
        self.keeper = _LeaseKeeper(engine, options.lease_seconds)

    def run(self) -> TickSummary:
        self.keeper.start()
        try:
            while self._time_left() > 0 and self._jobs_left() > 0:
                batch = claim(
                    self.conn,
                    worker_id=self.options.worker_id,
                    limit=min(self.options.batch_size, self._jobs_left()),
                    lease_seconds=self.options.lease_seconds,
                    queues=self.options.queues,
                )
                self.summary.claimed += len(batch)
                if not self._run_batch(batch):
                    break  # the next job would not fit in what is left of the budget
                short = len(batch) < self.options.batch_size
                promoted = self._promote() if short or self._promotion_due() else 0
                if not batch and not promoted:
                    if self.options.stop_when_idle:
                        break
                    time.sleep(max(0.0, min(self.options.poll_seconds, self._time_left())))
        finally:
            self._flush()
            self.keeper.stop()
        return self.summary

    def _run_batch(self, batch: list[ClaimedJob]) -> bool:
        """Run the batch; False if the budget ran out and the rest of it was released."""
        self.keeper.hold(batch)
        for index, job in enumerate(batch):
            job_type = self._job_type(job)
            timeout = job_type.timeout_seconds if job_type else 0.0
            if timeout > self._time_left():
                self._flush()
                self._release(batch[index:])
                return False
            self._add(self._execute(job, job_type, timeout))
        self._flush()
        return True

    def _execute(self, job: ClaimedJob, job_type: JobType | None, timeout: float) -> Finished:
        if job_type is None:
            return Finished(job, error=f"unknown job type {job.type!r}", permanent=True)
        try:
            payload = job_type.parse_payload(job.payload)
        except ValidationError as exc:
            return Finished(job, error=f"invalid payload: {exc.message}", permanent=True)
        started = self.clock()
        ctx = JobContext(
            deadline=min(self.deadline, started + timeout),
            extend_lease=lambda seconds: extend_lease(self.conn, job, seconds),
            clock=self.clock,
        )

        def took() -> float:
            return self.clock() - started

        try:
            result = job_type.handler(
                Job(job.id, job.type, job.queue, job.attempt, job.max_attempts, payload), ctx
            )
            return Finished(job, result=_jsonable(result), duration_seconds=took())
        except PermanentJobError as exc:
            return Finished(job, error=_describe(exc), permanent=True, duration_seconds=took())
        except Exception as exc:  # any handler error is a failed attempt, retried with backoff
            log.warning(
                "job %s (%s) attempt %s failed: %s", job.id, job.type, job.attempt, _describe(exc)
            )
            return Finished(job, error=_describe(exc), duration_seconds=took())

    def _job_type(self, job: ClaimedJob) -> JobType | None:
        try:
            return self.registry.get(job.type)
        except ValidationError:
            return None

    def _add(self, done: Finished) -> None:
        if not self.pending:
            self.pending_since = self.clock()
        self.pending.append(done)
        if self.clock() - self.pending_since >= FLUSH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        done, self.pending = self.pending, []
        if not done:
            return
        recorded = finish(self.conn, done, self.options.backoff)
        self.keeper.drop([f.job for f in done])
        self.summary.succeeded += recorded.succeeded
        self.summary.failed += recorded.failed
        self.summary.dead_lettered += recorded.dead_lettered
        self.summary.lease_lost += len(recorded.lost)

    def _release(self, unstarted: list[ClaimedJob]) -> None:
        self.summary.released += release(self.conn, unstarted)
        self.keeper.drop(unstarted)

    def _promotion_due(self) -> bool:
        return self.clock() - self.last_promote >= PROMOTE_EVERY_SECONDS

    def _promote(self) -> int:
        self.last_promote = self.clock()
        promoted = promote_due(self.conn)  # due CREATED and FAILED jobs, in one transaction
        self.summary.promoted += promoted
        return promoted

    def _time_left(self) -> float:
        return self.deadline - self.clock()

    def _jobs_left(self) -> int:
        if self.options.max_jobs is None:
            return self.options.batch_size
        return self.options.max_jobs - (self.summary.claimed - self.summary.released)


class _LeaseKeeper:
    """Extends the leases of the jobs a tick holds, every third of a lease, while it runs."""

    def __init__(self, engine: Engine, lease_seconds: float) -> None:
        self.engine, self.lease_seconds = engine, lease_seconds
        self.held: dict[int, ClaimedJob] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()

    def hold(self, claimed: Sequence[ClaimedJob]) -> None:
        with self.lock:
            self.held.update((job.id, job) for job in claimed)

    def drop(self, claimed: Sequence[ClaimedJob]) -> None:
        with self.lock:
            for job in claimed:
                self.held.pop(job.id, None)

    def _loop(self) -> None:
        while not self.stopped.wait(self.lease_seconds / 3):
            with self.lock:
                held = list(self.held.values())
            try:
                kept = extend_leases(self.engine, held, self.lease_seconds)
                if kept < len(held):
                    log.warning("%d of %d held leases were lost", len(held) - kept, len(held))
            except Exception:
                log.exception("could not extend leases; they will expire if this goes on")


def _jsonable(result: object) -> object:
    if isinstance(result, pydantic.BaseModel):
        return result.model_dump(mode="json")
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PermanentJobError(f"handler result is not JSON: {exc}") from None
    return result


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
