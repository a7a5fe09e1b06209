"""Job types whose handlers hang, for the io section's tick overrun (``JOB_MODULES``).

Both ignore their context (never look at ``cancelled`` or the deadline) and block a minute:
the worst a handler can do short of taking the CPU. ``hang`` is given up on at its 1 s
timeout; ``hang_long`` claims to be quick, so it starts late in a tick, and is given up on
when the tick's budget runs out.
"""

from __future__ import annotations

import threading

from common.handlers import Job, JobContext, Registry

HANG_SECONDS = 60.0
HANG_TYPE = "hang"
HANG_LONG_TYPE = "hang_long"


def hang(job: Job, ctx: JobContext) -> None:
    """Blocks ``HANG_SECONDS`` whatever it is told."""
    threading.Event().wait(HANG_SECONDS)


def register(registry: Registry) -> None:
    """Called by build_registry for every module named in JOB_MODULES."""
    registry.job_type(HANG_TYPE, timeout_seconds=1)(hang)
    registry.job_type(HANG_LONG_TYPE, timeout_seconds=30, expected_seconds=0.05)(hang)
