"""The lease keeper: extends the leases of the jobs a tick holds while it runs them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlalchemy import Engine

from common.claim import extend_leases
from common.transitions import ClaimedJob

log = logging.getLogger("skiplock.worker")


class LeaseKeeper:
    """Every third of a lease, pushes the lease of every job it holds a whole lease ahead.

    A tick holds a job from its claim until its attempt is recorded, handed back, or given
    up on (a handler past its deadline no longer keeps its job).
    """

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
        """Stop extending these leases (a job claimed again since keeps its new lease)."""
        with self.lock:
            for job in claimed:
                if (
                    held := self.held.get(job.id)
                ) is not None and held.lease_token == job.lease_token:
                    del self.held[job.id]

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
