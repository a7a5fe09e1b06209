"""The process is being shut down: the one flag a worker tick watches to stop in time.

Cloud Run and Lambda send an instance SIGTERM before they stop it, gunicorn sends its workers
SIGTERM (or SIGQUIT on Ctrl-C), a developer presses Ctrl-C (SIGINT). Whatever handled the
signal before still runs after the flag is set, so gunicorn's own shutdown goes on as usual.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)

stopping = threading.Event()  # set once a stop signal came: the process has little time left


def stop_on_signals(signals: Iterable[signal.Signals] = STOP_SIGNALS) -> None:
    """Set ``stopping`` when one of ``signals`` arrives, then do what was done before.

    Signal handlers can only be installed from the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in signals:
        previous = signal.getsignal(sig)
        if getattr(previous, "sets_stopping", False):
            continue  # installed already
        signal.signal(sig, _chained(sig, previous))


def _chained(sig: signal.Signals, previous: object) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:  # the default action (end the process), as before
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)

    handler.sets_stopping = True  # type: ignore[attr-defined]
    return handler
