"""The backoff rule, the one place that decides how long a failed job waits."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    """Wait ``base_seconds * 2**attempt`` after attempt number ``attempt`` fails.

    The wait is capped at ``max_seconds``; ``jitter`` (0..1) then shortens it by up to that
    fraction at random, so that many jobs failing together do not all retry in the same second.
    """

    base_seconds: float = 10.0
    max_seconds: float = 3600.0
    jitter: float = 0.1

    def delay_seconds(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retrying after ``attempt`` (1 = the first try) has failed."""
        exponent = min(max(attempt, 0), 62)  # beyond 2**62 every sane cap has long been reached
        capped = min(self.max_seconds, self.base_seconds * 2**exponent)
        return capped * (1.0 - self.jitter * rand())
