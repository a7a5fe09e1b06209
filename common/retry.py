"""The retry decision: after an attempt fails, how long the job waits, or that it is dead.

Finishing a failed attempt and counting a tick's outcomes ask ``decide``, recovering an expired
lease asks ``decide_lost``; nothing else decides whether a job is retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from common.states import Outcome


@dataclass(frozen=True)
class BackoffPolicy:
    """Wait ``base_seconds * 2**attempt`` after attempt number ``attempt`` fails.

    The wait is capped at ``max_seconds``; ``jitter`` (0..1) then shortens it by up to that
    fraction at random, so that many jobs failing together do not all retry in the same second.
    The defaults live in Settings (BACKOFF_*), which builds the policy.
    """

    base_seconds: float
    max_seconds: float
    jitter: float

    def delay_seconds(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retrying after ``attempt`` (1 = the first try) has failed."""
        exponent = min(max(attempt, 0), 62)  # beyond 2**62 every sane cap has long been reached
        capped = min(self.max_seconds, self.base_seconds * 2**exponent)
        return capped * (1.0 - self.jitter * rand())


@dataclass(frozen=True)
class Retry:
    """Run the job again after ``delay_seconds``. An ``uncounted`` retry also allows one
    attempt more: the lost attempt may never have begun (``decide_lost``)."""

    delay_seconds: float
    uncounted: bool = False


@dataclass(frozen=True)
class DeadLetter:
    """Give up: the job goes to the DLQ."""


@dataclass(frozen=True)
class PastDeadline:
    """The retry would start at or after the job's deadline (not_after): it is cancelled."""


Decision = Retry | DeadLetter | PastDeadline


def decide(
    attempt: int,
    max_attempts: int,
    outcome: Outcome,
    backoff: BackoffPolicy | None = None,
    rand: Callable[[], float] = random.random,
    *,
    seconds_to_deadline: float | None = None,
) -> Decision:
    """What happens to a job whose attempt number ``attempt`` ended with ``outcome``.

    ``backoff`` is needed only where the job may wait: for a handler's error.
    ``seconds_to_deadline`` is how long the job has until its not_after (None: no deadline);
    a retry that would not start before it is PastDeadline.
    """
    if outcome == Outcome.SUCCESS:
        raise ValueError("a successful attempt needs no retry decision")
    if outcome == Outcome.PERMANENT_ERROR or attempt >= max_attempts:
        return DeadLetter()
    if outcome == Outcome.LEASE_EXPIRED:
        retry = Retry(0.0)  # the expired lease already made it wait that long
    elif backoff is None:
        raise ValueError(f"an attempt that ended with {outcome} needs a backoff policy")
    else:
        retry = Retry(backoff.delay_seconds(attempt, rand))
    if seconds_to_deadline is not None and retry.delay_seconds >= seconds_to_deadline:
        return PastDeadline()
    return retry


# A job whose worker stopped before writing its attempt's start is given its attempt back this
# many times; past that, such a loss counts like any other, so that a job that kills its worker
# at once every time still reaches the DLQ.
UNCOUNTED_LOSSES = 3


def decide_lost(
    attempt: int,
    max_attempts: int,
    *,
    start_written: bool,
    uncounted_before: int,
    seconds_to_deadline: float | None = None,
) -> Decision:
    """What happens to a job whose lease expired during attempt number ``attempt``.

    A worker writes an attempt's start only once it has run for a moment (common/worker.py),
    so a worker that died before then cannot say whether the attempt began: it may have been
    claimed and never started. Such a loss is recorded but does not use up an attempt (up to
    UNCOUNTED_LOSSES times): a job is never dead-lettered for attempts it may never have made.
    """
    if start_written or uncounted_before >= UNCOUNTED_LOSSES:
        return decide(
            attempt, max_attempts, Outcome.LEASE_EXPIRED, seconds_to_deadline=seconds_to_deadline
        )
    if seconds_to_deadline is not None and seconds_to_deadline <= 0:
        return PastDeadline()
    return Retry(0.0, uncounted=True)
