"""The start rule: a claimed job starts only when it is expected to end before its tick does.

What a job is expected to take comes, in this order, from:
1. what the type's jobs took in this process: the 90th percentile of its last 50 successful
   attempts, once there are 5 of them (a warm function instance runs many ticks);
2. what the type declares, ``expected_seconds``: seconds, or a function of the payload
   (``sleep`` expects as long as it is asked to sleep);
3. otherwise DEFAULT_EXPECTED_SECONDS, or the type's timeout if that is shorter.

A job that starts has the earlier of its timeout and the tick's end as its deadline, so a
short tick runs jobs whose worst case would not fit it, and a job that cannot start is handed
back at once for a longer (or less busy) tick to run.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

from common.handlers.registry import JobType

DEFAULT_EXPECTED_SECONDS = 1.0
SAMPLES_KEPT = 50
SAMPLES_TRUSTED = 5
PERCENTILE = 0.9


class Durations:
    """How long each job type's recent successful attempts took, in this process."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Forget every duration seen (tests start from what the types declare)."""
        with self._lock:
            self._seen.clear()

    def record(self, type_name: str, seconds: float) -> None:
        with self._lock:
            self._seen.setdefault(type_name, deque(maxlen=SAMPLES_KEPT)).append(seconds)

    def expected_seconds(self, job_type: JobType, payload: Any) -> float:
        """What a job of ``job_type`` with ``payload`` is expected to take (see the module)."""
        with self._lock:
            seen = sorted(self._seen.get(job_type.name, ()))
        if len(seen) >= SAMPLES_TRUSTED:
            return seen[min(len(seen) - 1, math.ceil(PERCENTILE * len(seen)) - 1)]
        declared = job_type.expected_seconds
        if callable(declared):
            return max(0.0, float(declared(payload)))
        if declared is not None:
            return declared
        return min(DEFAULT_EXPECTED_SECONDS, job_type.timeout_seconds)


def never_fits(job_type: JobType, budget_seconds: float) -> bool:
    """True when the type declares it takes longer than any tick of ``budget_seconds`` lasts."""
    declared = job_type.expected_seconds
    return isinstance(declared, int | float) and declared > budget_seconds


durations = Durations()  # the process's own record, kept across its ticks
