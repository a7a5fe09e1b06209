"""Runs a tick's claimed jobs side by side on a bounded set of threads.

The threads take the next job that may start (a free slot overall and for its type, and an
expected duration that fits what is left of the tick) straight from the ready list, so the
tick's own thread is woken only when there is something for it to do: results to write, room
to claim more, jobs to hand back. Threads are woken as the work needs them: one takes a new
batch, and more join only once no job has started for SPREAD_SECONDS while jobs are waiting
(the running ones are waiting on something). Jobs that return at once are run by one thread
without handing the interpreter back and forth; jobs that wait overlap within milliseconds.

A job that runs past its deadline is given up on: its thread is abandoned (a thread cannot be
stopped; the handler is told through its ``cancelled`` event) and a new thread takes its
place, so a hung handler costs one thread, never a slot.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.handlers.registry import Cancellation, JobType
from common.transitions import ClaimedJob, Finished

SPREAD_SECONDS = 0.002


@dataclass(eq=False, slots=True)
class Attempt:
    """A claimed job on its way through the runner, with the tick's clock times of its life."""

    job: ClaimedJob
    job_type: JobType
    payload: Any  # validated
    expected_seconds: float
    started: float | None = None
    deadline: float = 0.0  # told to the handler: the earlier of its timeout and the tick's end
    give_up_at: float = 0.0  # when the runner stops waiting for it
    marked: bool = False  # its start is written in the job row
    cancelled: Cancellation = field(default_factory=Cancellation)


Execute = Callable[[Attempt], Finished]
GiveUp = Callable[[Attempt, float], Finished]  # the attempt and the clock's now


class Runner:
    """Up to ``concurrency`` attempts at once; see the module's docstring."""

    def __init__(
        self,
        execute: Execute,
        *,
        concurrency: int,
        clock: Callable[[], float],
        starts_before: float,
        tick_end: float,
    ) -> None:
        self._execute, self._clock = execute, clock
        self.concurrency = concurrency
        self.starts_before = starts_before  # no attempt starts that is expected to end later
        self.tick_end = tick_end  # when the runner stops waiting for any attempt
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the threads wait here for jobs
        self._news = threading.Condition(self._lock)  # the tick's thread waits here
        self._has_news = False
        self._wake_on_finish = True
        self._ready: deque[Attempt] = deque()
        self._running: dict[int, Attempt] = {}
        self._by_type: Counter[str] = Counter()
        self._finished: list[Finished] = []
        self._passed_over: list[Attempt] = []
        self._stopping = False
        self._idle = 0  # threads waiting for work
        self._last_start = float("-inf")
        self._held_back = False  # a ready job waits for its type's slot

    def start(self) -> None:
        for _ in range(self.concurrency):
            self._spawn()

    # --- what the tick's thread calls ------------------------------------------------------

    def add(self, attempts: list[Attempt]) -> None:
        """Queue claimed attempts, in claim order."""
        with self._lock:
            self._ready.extend(attempts)
            self._last_start = max(self._last_start, self._clock())  # the wait starts now
            self._work.notify()

    def spread(self) -> None:
        """Wake idle threads when jobs wait and none has started for SPREAD_SECONDS."""
        with self._lock:
            due, now = self._spread_due(), self._clock()
            if due is not None and now >= due:
                self._work.notify(min(len(self._ready), self._idle))
                self._last_start = now  # give them SPREAD_SECONDS to start before waking more

    def next_spread(self) -> float | None:
        """When ``spread`` may next wake a thread (None: nothing waits that one could take)."""
        with self._lock:
            return self._spread_due()

    def _spread_due(self) -> float | None:
        if not self._ready or not self._idle or len(self._running) >= self.concurrency:
            return None
        return self._last_start + SPREAD_SECONDS

    def wait(self, timeout: float, *, wake_on_finish: bool) -> None:
        """Sleep until a thread has news for the tick, or ``timeout`` seconds.

        News is: the ready list ran empty, a job was set aside, or (with ``wake_on_finish``, or
        while nothing is ready) an attempt ended. A tick that will record what ended at its
        next flush anyway does not need to wake for each one.
        """
        with self._lock:
            self._wake_on_finish = wake_on_finish
            if not self._has_news and timeout > 0:
                self._news.wait(timeout)
            self._has_news = False
            self._wake_on_finish = True  # until the next wait says otherwise

    def collect(self) -> list[Finished]:
        """The attempts that ended since the last call."""
        with self._lock:
            done, self._finished = self._finished, []
            return done

    def take_passed_over(self) -> list[Attempt]:
        """Claimed jobs that cannot start in what is left of the tick: to be handed back."""
        with self._lock:
            passed, self._passed_over = self._passed_over, []
            return passed

    def give_up_overdue(self, give_up: GiveUp) -> None:
        """End every attempt that is past its give-up time with what ``give_up`` says."""
        now = self._clock()
        with self._lock:
            for attempt in [a for a in self._running.values() if a.give_up_at <= now]:
                self._abandon(attempt, give_up(attempt, now))

    def stop(self, give_up: GiveUp) -> list[Attempt]:
        """Give up on what still runs, stop the threads, return the jobs never started."""
        now = self._clock()
        with self._lock:
            self._stopping = True
            for attempt in list(self._running.values()):
                self._abandon(attempt, give_up(attempt, now))
            unstarted = [*self._ready, *self._passed_over]
            self._ready.clear()
            self._passed_over.clear()
            self._work.notify_all()
        return unstarted

    def stop_starting(self, tick_end: float) -> list[Attempt]:
        """Start nothing more, wait for what runs until ``tick_end`` at the latest, and return
        the jobs that were waiting to start (to be handed back)."""
        with self._lock:
            self.starts_before = float("-inf")
            self.tick_end = min(self.tick_end, tick_end)
            for attempt in self._running.values():
                attempt.give_up_at = min(attempt.give_up_at, self.tick_end)
            unstarted = [*self._ready, *self._passed_over]
            self._ready.clear()
            self._passed_over.clear()
        return unstarted

    def unmarked_since(self, before: float) -> list[Attempt]:
        """Running attempts started before ``before`` whose start is not yet in the job row."""
        with self._lock:
            return [
                a
                for a in self._running.values()
                if not a.marked and a.started is not None and a.started <= before
            ]

    def next_give_up(self) -> float | None:
        with self._lock:
            return min((a.give_up_at for a in self._running.values()), default=None)

    def next_expected_end(self) -> float | None:
        """When the first running attempt is expected to end (start + expected duration)."""
        with self._lock:
            ends = [
                a.started + a.expected_seconds
                for a in self._running.values()
                if a.started is not None
            ]
            return min(ends, default=None)

    def earliest_unmarked_start(self) -> float | None:
        with self._lock:
            starts = [
                a.started for a in self._running.values() if not a.marked and a.started is not None
            ]
            return min(starts, default=None)

    @property
    def ready(self) -> int:
        return len(self._ready)

    @property
    def nothing_to_start(self) -> bool:
        """Nothing is ready that a free thread could take: the tick may claim more."""
        with self._lock:
            # All that is ready waits for its type's slot while threads idle: claim others, up
            # to a bounded backlog of such jobs.
            stuck = self._held_back and self._idle > 0 and len(self._ready) < self.concurrency
            return not self._ready or stuck

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def has_uncollected(self) -> bool:
        """Some attempt has ended (it no longer counts as running) and is not collected yet."""
        with self._lock:
            return bool(self._finished)

    # --- the threads -------------------------------------------------------------------------

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._serve, name="skiplock-job", daemon=True)
        thread.start()

    def _serve(self) -> None:
        while True:
            with self._lock:
                attempt = self._next()
                while attempt is None:
                    if self._stopping:
                        return
                    self._idle += 1
                    self._work.wait()
                    self._idle -= 1
                    attempt = self._next()
            finished = self._execute(attempt)
            with self._lock:
                if self._running.get(attempt.job.id) is not attempt:
                    return  # given up on and replaced: the late result is dropped here
                self._end(attempt)
                self._finished.append(finished)
                if self._wake_on_finish or not self._ready:
                    self._tell_tick()
                if self._held_back:
                    self._work.notify()  # a job held back by its type's limit may start now

    def _next(self) -> Attempt | None:
        """The first ready attempt that may start now; those that never can are set aside."""
        if self._stopping or len(self._running) >= self.concurrency or not self._ready:
            return None
        now = self._clock()
        held_back: list[Attempt] = []  # by their type's limit: they keep their place
        found = None
        while self._ready and found is None:
            attempt = self._ready.popleft()
            limit = attempt.job_type.concurrency
            if now + attempt.expected_seconds > self.starts_before:
                self._passed_over.append(attempt)
                self._tell_tick()
            elif limit is not None and self._by_type[attempt.job_type.name] >= limit:
                held_back.append(attempt)
            else:
                found = attempt
        self._ready.extendleft(reversed(held_back))
        self._held_back = bool(held_back)
        if found is not None:
            self._last_start = now
            self._begin(found, now)
            if not self._ready:
                self._tell_tick()  # room to claim more
        return found

    def _begin(self, attempt: Attempt, now: float) -> None:
        timeout_at = now + attempt.job_type.timeout_seconds
        attempt.started = now
        attempt.deadline = min(timeout_at, self.starts_before)
        attempt.give_up_at = min(timeout_at, self.tick_end)
        self._running[attempt.job.id] = attempt
        self._by_type[attempt.job_type.name] += 1

    def _end(self, attempt: Attempt) -> None:
        del self._running[attempt.job.id]
        self._by_type[attempt.job_type.name] -= 1

    def _abandon(self, attempt: Attempt, finished: Finished) -> None:
        attempt.cancelled.set()
        self._end(attempt)
        self._finished.append(finished)
        if not self._stopping:
            self._spawn()  # the abandoned thread may never come back
        self._work.notify()

    def _tell_tick(self) -> None:
        self._has_news = True
        self._news.notify()
