"""The transition event stream: one event per status change, published after its commit.

Logs, metrics and webhooks subscribe here; the engine knows nothing of them. Listeners run on
one dispatcher thread, in the order the changes were committed, so a slow or failing listener
can neither slow down nor undo the transaction that made the change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from common.states import Outcome, Status

log = logging.getLogger("skiplock.events")
MAX_PENDING_EVENTS = 100_000


@dataclass(frozen=True)
class TransitionEvent:
    """One job's status change, as committed. ``transition`` names the function that made it."""

    transition: str
    job_id: int
    queue: str
    type: str
    attempt: int
    from_status: Status
    to_status: Status
    outcome: Outcome | None = None
    error: str | None = None
    duration_seconds: float | None = None
    worker_id: str | None = None


Listener = Callable[[TransitionEvent], None]


class EventStream:
    """Listeners, and a bounded queue of committed events that one thread hands to them.

    When nobody listens, the transitions build no events at all (``active`` is False). When
    listeners fall more than ``max_pending`` events behind, newer events are dropped and counted
    in ``dropped`` rather than let memory grow or the engine wait.
    """

    def __init__(self, max_pending: int = MAX_PENDING_EVENTS) -> None:
        self.max_pending = max_pending
        self.dropped = 0
        self._listeners: tuple[Listener, ...] = ()
        self._pending: deque[TransitionEvent] = deque()
        self._busy = False  # the dispatcher is handing out an event right now
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return bool(self._listeners)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event from now on; returns the call that unsubscribes."""
        with self._changed:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._changed:
                self._listeners = tuple(fn for fn in self._listeners if fn is not listener)

        return unsubscribe

    def publish(self, events: Iterable[TransitionEvent]) -> None:
        """Queue committed ``events`` for the listeners; never blocks, never raises."""
        with self._changed:
            for event in events:
                if len(self._pending) >= self.max_pending:
                    self.dropped += 1
                    continue
                self._pending.append(event)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._dispatch, name="skiplock-events", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def drain(self, timeout_seconds: float) -> bool:
        """Wait until every queued event was handed out; False if that took over the timeout."""
        deadline = time.monotonic() + timeout_seconds
        with self._changed:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def _dispatch(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    self._busy = False
                    self._changed.notify_all()
                    self._changed.wait()
                event, self._busy = self._pending.popleft(), True
                listeners = self._listeners
            for listener in listeners:
                try:
                    listener(event)
                except Exception:  # a listener's bug must not stop the others, or the stream
                    log.exception("transition listener %r failed on %s", listener, event)


stream = EventStream()  # the process's one stream: subscribe(...) to it
