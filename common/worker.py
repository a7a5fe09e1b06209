"""One worker tick: claim jobs, run them side by side, record them, until the budget is spent.

Up to ``concurrency`` jobs run at once (common/runner.py), so jobs that wait on a network
overlap their waits. A job starts only when it is expected to end before the tick does
(common/start_rule.py); one that cannot goes straight back to the queue, never holding up the
jobs behind it. When every slot is busy, the next batch is claimed just before a running job is
expected to end, so short jobs follow each other at once; one batch at most waits that way.
A job past its deadline (its type's timeout, or the tick's end) is given up on: that attempt
ends ``timeout`` and is retried like any failure. The tick answers within its budget whatever
its handlers do.

When the process is told to stop (SIGTERM or Ctrl-C: common/shutdown.py), the tick claims
nothing more, hands back at once the jobs it has not started, gives those that run
STOP_GRACE_SECONDS to end (then gives up on them: ``timeout``, retried), records them all and
answers. Nothing it held is left RUNNING for a lease to recover.

Finished attempts are written in batches, at most ``FLUSH_SECONDS`` after they end; so is the
start of a long attempt. A crash can lose at most that much, which the lease then hands to
another worker: execution is at least once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial

import pydantic
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from common.claim import ClaimMode, claim_in, extend_lease, release
from common.config import DEFAULTS, Settings
from common.db import ClockReading, run_in_transaction
from common.errors import LeaseLost, PermanentJobError, ValidationError
from common.finish import Recorded, finish, record_finished
from common.handlers.registry import Job, JobContext, JobType, Registry
from common.leases import LeaseKeeper
from common.retry import BackoffPolicy
from common.runner import Attempt, Runner
from common.schedule import promote_due
from common.shutdown import stopping
from common.start_rule import durations
from common.transitions import ClaimedJob, Finished, mark_started

log = logging.getLogger("skiplock.worker")
FLUSH_SECONDS = 0.05
PROMOTE_EVERY_SECONDS = 1.0
# With every slot busy, the next batch is claimed this long before a running attempt is
# expected to end: the threads then start it the moment they are free, instead of waiting for
# the tick's thread to claim (which may be busy writing results just then).
CLAIM_AHEAD_SECONDS = 0.02
# Handlers are told to be done this long before the tick ends, so that the tick can record
# them and answer within its budget.
END_MARGIN_SECONDS = 0.25
MAX_ERROR_CHARS = 4000
# Told to stop, a tick lets its running jobs end for this long: inside gunicorn's graceful
# timeout of the local stack (5 s) and the 10 s Cloud Run grants after SIGTERM.
STOP_GRACE_SECONDS = 2.0
# How often a sleeping tick looks whether the process was told to stop.
STOP_CHECK_SECONDS = 0.1


@dataclass(frozen=True)
class TickOptions:
    """How one tick works: who it is, how much it takes at once, and for how long.

    The defaults are the settings' defaults; ``from_settings`` takes a deployment's values.
    """

    worker_id: str
    budget_seconds: float
    batch_size: int = DEFAULTS.worker_batch_size
    concurrency: int = DEFAULTS.worker_concurrency
    lease_seconds: float = DEFAULTS.lease_seconds
    poll_seconds: float = DEFAULTS.worker_poll_seconds
    backoff: BackoffPolicy = field(default_factory=lambda: DEFAULTS.backoff)
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
            concurrency=settings.worker_concurrency,
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
    failed: int = 0  # waiting for a retry
    dead_lettered: int = 0
    timed_out: int = 0  # of the failed and dead-lettered: given up on past their deadline
    released: int = 0  # claimed, never started, handed back without using an attempt
    did_not_fit: int = 0  # of the released: expected to take longer than the tick had left
    lease_lost: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def work_tick(
    engine: Engine,
    registry: Registry,
    options: TickOptions,
    clock: Callable[[], float] = time.monotonic,
) -> TickSummary:
    """Run jobs until ``options.budget_seconds`` is spent (or ``max_jobs`` claimed)."""
    with engine.connect() as conn:  # the tick's own statements share one connection
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
        self.engine, self.conn, self.registry = engine, conn, registry
        self.options, self.clock = options, clock
        self.deadline = clock() + options.budget_seconds
        self.db_clock = ClockReading.take(conn, clock)  # attempts' times, on the database's
        self.claim_mode = ClaimMode()  # whether queue controls exist, as of the last claim
        self.summary = TickSummary()
        self.pending: list[Finished] = []
        self.pending_since = 0.0
        self.next_claim = float("-inf")
        self.last_promote = float("-inf")
        self.passed_over: set[int] = set()  # handed back as not fitting: not to be claimed again
        self.expected: dict[str, float] = {}  # by job type, for this claim's jobs
        # The least time a job like the last claim's that fit needs to start and end, the
        # claim included: no claim is made once it no longer could (_next_claim_at).
        self.shortest_expected = 0.0
        self.keeper = LeaseKeeper(engine, options.lease_seconds)
        self.stopped = False  # the process is shutting down: claim nothing more
        margin = min(END_MARGIN_SECONDS, options.budget_seconds / 4)
        self.runner = Runner(
            self._execute,
            concurrency=options.concurrency,
            clock=clock,
            starts_before=self.deadline - margin,
            tick_end=self.deadline,
        )

    def run(self) -> TickSummary:
        self.keeper.start()
        self.runner.start()
        try:
            while self._time_left() > 0:
                if stopping.is_set() and not self.stopped:
                    self._stop_soon()
                self.runner.give_up_overdue(self._given_up)
                self._collect()
                self._hand_back(self.runner.take_passed_over(), did_not_fit=True)
                self._mark_long_attempts_started()
                if self._claim_due():  # what is pending is recorded in the claim's transaction
                    if not self._claim_more() and self._idle() and self.options.stop_when_idle:
                        break
                elif self.pending and self._flush_due():
                    self._flush()
                if self._jobs_left() <= 0 and self._idle():
                    break  # started all it was asked to
                # Ended attempts matter at once only with nothing to write yet (the flush timer
                # starts with the first), or when a free slot could take a new claim.
                self.runner.spread()
                wake_on_finish = not self.pending or self._next_claim_at() is not None
                self.runner.wait(self._until_next_wake(), wake_on_finish=wake_on_finish)
        finally:
            self._end()
        return self.summary

    # --- claiming ----------------------------------------------------------------------------

    def _claim_due(self) -> bool:
        at = self._next_claim_at()
        return at is not None and self.clock() >= at

    def _next_claim_at(self) -> float | None:
        """When the tick may claim next; None while claimed jobs wait or none are wanted.

        With every slot busy, that is shortly before a running attempt is expected to end.
        None too once the jobs the last claim brought could no longer start and end in time
        (the tick's last END_MARGIN_SECONDS, and the shortest of them before that): what it
        claimed then would only go back.
        """
        if not self.runner.nothing_to_start or self._jobs_left() <= 0:
            return None
        at = self.next_claim
        if self.runner.running >= self.options.concurrency:
            end = self.runner.next_expected_end()
            if end is not None:
                at = max(at, end - CLAIM_AHEAD_SECONDS)
        if max(at, self.clock()) + self.shortest_expected >= self.runner.starts_before:
            return None
        return at

    def _claim_more(self) -> bool:
        """Claim a batch (promoting due jobs when it comes back short); True if any came."""
        batch = self._claim()
        short = len(batch) < self.options.batch_size
        if (short or self._promotion_due()) and self._promote():
            batch += self._claim()
        if not batch:
            self.next_claim = self.clock() + self.options.poll_seconds
        return bool(batch)

    def _claim(self) -> list[ClaimedJob]:
        limit = min(self.options.batch_size, self._jobs_left())
        if limit <= 0:
            return []
        batch = self._record_and_claim(limit)
        self.expected.clear()  # learnt durations may have moved since the last claim
        self.summary.claimed += len(batch)
        self.keeper.hold(batch)
        attempts = []
        for job in batch:
            attempt = self._prepare(job)
            if isinstance(attempt, Finished):
                self._add([attempt])
            else:
                attempts.append(attempt)
        self._note_shortest(attempts)
        self.runner.add(attempts)
        return batch

    def _note_shortest(self, attempts: list[Attempt]) -> None:
        """The next claim is likely alike: worth making only while the shortest of these jobs
        that can still run could. Jobs that cannot fit change nothing: they must not keep the
        tick from claiming the jobs behind them."""
        now = self.clock()
        fit = [
            a.expected_seconds
            for a in attempts
            if now + a.expected_seconds < self.runner.starts_before
        ]
        if fit:
            self.shortest_expected = CLAIM_AHEAD_SECONDS + min(fit)

    def _record_and_claim(self, limit: int) -> list[ClaimedJob]:
        """Claim, in one transaction with recording what is pending: one commit, not two."""
        done, self.pending = self.pending, []
        take = partial(
            claim_in,
            worker_id=self.options.worker_id,
            limit=limit,
            lease_seconds=self.options.lease_seconds,
            queues=self.options.queues,
            excluding=self.passed_over,
            declared=self.registry.queue_controls,
            mode=self.claim_mode,
        )

        def both(conn: Connection) -> tuple[Recorded, list[ClaimedJob]]:
            return record_finished(conn, done, self.options.backoff), take(conn)

        if not done:
            return run_in_transaction(self.conn, take)
        try:
            recorded, batch = run_in_transaction(self.conn, both)
        except LeaseLost:  # some were taken over meanwhile: record them the careful way
            self._count(done, finish(self.conn, done, self.options.backoff))
            return run_in_transaction(self.conn, take)
        except BaseException:
            self.pending[:0] = done  # not recorded: the end of the tick tries again
            raise
        self._count(done, recorded)
        return batch

    def _prepare(self, job: ClaimedJob) -> Attempt | Finished:
        """The attempt to run, or the permanent failure of a job that cannot run anywhere."""
        try:
            job_type = self.registry.get(job.type)
        except ValidationError:
            return Finished(job, error=f"unknown job type {job.type!r}", permanent=True)
        try:
            payload = job_type.parse_payload(job.payload)
        except ValidationError as exc:
            return Finished(job, error=f"invalid payload: {exc.message}", permanent=True)
        return Attempt(job, job_type, payload, self._expected(job_type, payload))

    def _expected(self, job_type: JobType, payload: object) -> float:
        if callable(job_type.expected_seconds):  # it depends on the payload
            return durations.expected_seconds(job_type, payload)
        if job_type.name not in self.expected:
            self.expected[job_type.name] = durations.expected_seconds(job_type, payload)
        return self.expected[job_type.name]

    def _promotion_due(self) -> bool:
        return self.clock() - self.last_promote >= PROMOTE_EVERY_SECONDS

    def _promote(self) -> int:
        self.last_promote = self.clock()
        promoted = promote_due(self.conn)  # due CREATED and FAILED jobs, in one transaction
        self.summary.promoted += promoted
        return promoted

    # --- running (on the runner's threads) ---------------------------------------------------

    def _execute(self, attempt: Attempt) -> Finished:
        job, job_type = attempt.job, attempt.job_type
        assert attempt.started is not None
        ctx = JobContext(
            deadline=attempt.deadline,
            extend_lease=partial(extend_lease, self.engine, job),
            clock=self.clock,
            cancelled=attempt.cancelled,
        )
        payload = attempt.payload
        handler_job = Job(job.id, job.type, job.queue, job.attempt, job.max_attempts, payload)
        try:
            result = _jsonable(job_type.handler(handler_job, ctx))
        except PermanentJobError as exc:
            return self._finished(attempt, self.clock(), error=_describe(exc), permanent=True)
        except Exception as exc:  # any handler error is a failed attempt, retried with backoff
            log.warning("job %s (%s) attempt %s failed: %s", job.id, job.type, job.attempt, exc)
            return self._finished(attempt, self.clock(), error=_describe(exc))
        now = self.clock()
        if not attempt.cancelled.is_set():  # a late return says nothing of the usual duration
            durations.record(job_type.name, now - attempt.started)
        return self._finished(attempt, now, result=result)

    def _given_up(self, attempt: Attempt, now: float) -> Finished:
        assert attempt.started is not None
        ran = now - attempt.started
        timeout = attempt.job_type.timeout_seconds
        if ran >= timeout:
            why = f"timeout: ran past its type's {timeout:g} s timeout"
        elif self.stopped:
            why = f"timeout: the worker was shut down after {ran:.2f} s of this attempt"
        else:
            why = f"timeout: the worker tick's budget ran out after {ran:.2f} s of this attempt"
        job = attempt.job
        log.warning("job %s (%s) attempt %s: %s", job.id, job.type, job.attempt, why)
        return self._finished(attempt, now, error=why, timed_out=True)

    def _finished(
        self,
        attempt: Attempt,
        ended: float,
        *,
        result: object = None,
        error: str | None = None,
        permanent: bool = False,
        timed_out: bool = False,
    ) -> Finished:
        assert attempt.started is not None
        return Finished(
            attempt.job,
            result=result,
            error=error,
            permanent=permanent,
            timed_out=timed_out,
            started_at=self.db_clock.at(attempt.started),
            ended_at=self.db_clock.at(ended),
            duration_seconds=ended - attempt.started,
        )

    # --- recording ---------------------------------------------------------------------------

    def _collect(self) -> None:
        done = self.runner.collect()
        if done:
            self._add(done)

    def _add(self, done: list[Finished]) -> None:
        if not self.pending:
            self.pending_since = self.clock()
        self.pending += done

    def _flush_due(self) -> bool:
        idle = self.runner.running == 0 and self.runner.ready == 0
        return idle or self.clock() - self.pending_since >= FLUSH_SECONDS

    def _flush(self) -> None:
        done, self.pending = self.pending, []
        if not done:
            return
        try:
            recorded = finish(self.conn, done, self.options.backoff)
        except BaseException:
            self.pending[:0] = done  # not recorded: the end of the tick tries again
            raise
        self._count(done, recorded)

    def _count(self, done: list[Finished], recorded: Recorded) -> None:
        self.keeper.drop([f.job for f in done])
        self.summary.succeeded += recorded.succeeded
        self.summary.failed += recorded.failed
        self.summary.dead_lettered += recorded.dead_lettered
        self.summary.lease_lost += len(recorded.lost)
        lost = {f.job.id for f in recorded.lost}
        self.summary.timed_out += sum(1 for f in done if f.timed_out and f.job.id not in lost)

    def _mark_long_attempts_started(self) -> None:
        """Write the start of attempts that have run for FLUSH_SECONDS without ending."""
        started = self.runner.unmarked_since(self.clock() - FLUSH_SECONDS)
        if started:
            run_in_transaction(self.conn, partial(mark_started, started=[a.job for a in started]))
            for attempt in started:
                attempt.marked = True

    def _hand_back(self, attempts: list[Attempt], *, did_not_fit: bool = False) -> None:
        if not attempts:
            return
        jobs = [a.job for a in attempts]
        released = release(self.conn, jobs)
        self.keeper.drop(jobs)
        self.summary.released += released
        if did_not_fit:
            self.passed_over.update(job.id for job in jobs)
            self.summary.did_not_fit += released
            # What comes next in the queue is likely alike: claim again only after a poll, not
            # batch after batch of jobs that do not fit either.
            self.next_claim = self.clock() + self.options.poll_seconds

    def _stop_soon(self) -> None:
        """The process is shutting down: hand back what has not started, let the rest end."""
        self.stopped = True
        self.deadline = min(self.deadline, self.clock() + STOP_GRACE_SECONDS)
        self._hand_back(self.runner.stop_starting(self.deadline))
        log.info("worker %s stopping: the process is shutting down", self.options.worker_id)

    def _end(self) -> None:
        unstarted = self.runner.stop(self._given_up)
        try:
            self._collect()
            self._flush()
            self._hand_back(unstarted)
        finally:
            self.keeper.stop()

    # --- time --------------------------------------------------------------------------------

    def _until_next_wake(self) -> float:
        now = self.clock()
        wakes = [self.deadline, now + STOP_CHECK_SECONDS]
        if self.pending:
            wakes.append(self.pending_since + FLUSH_SECONDS)
        if (give_up := self.runner.next_give_up()) is not None:
            wakes.append(give_up)
        if (spread := self.runner.next_spread()) is not None:
            wakes.append(spread)
        if (start := self.runner.earliest_unmarked_start()) is not None:
            wakes.append(start + FLUSH_SECONDS)
        if (claim_at := self._next_claim_at()) is not None:
            wakes.append(claim_at)
        return max(0.0, min(wakes) - now)

    def _idle(self) -> bool:
        """Nothing runs or waits to start, and every ended attempt is recorded: an attempt that
        just ended may have left its job due again (a retry without backoff)."""
        runner = self.runner
        ended = runner.has_uncollected or self.pending
        return runner.running == 0 and runner.ready == 0 and not ended

    def _time_left(self) -> float:
        return self.deadline - self.clock()

    def _jobs_left(self) -> int:
        if self.stopped:
            return 0
        if self.options.max_jobs is None:
            return self.options.batch_size
        return self.options.max_jobs - (self.summary.claimed - self.summary.released)


def _jsonable(result: object) -> object:
    if result is None:
        return None
    if isinstance(result, pydantic.BaseModel):
        return result.model_dump(mode="json")
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PermanentJobError(f"handler result is not JSON: {exc}") from None
    return result


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
