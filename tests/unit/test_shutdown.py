"""stop_on_signals sets the stop flag and still runs what handled the signal before."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from common import shutdown


@pytest.fixture
def sigterm_restored() -> Iterator[list[int]]:
    seen: list[int] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    before = signal.signal(signal.SIGTERM, previous)
    yield seen
    signal.signal(signal.SIGTERM, before)
    shutdown.stopping.clear()


def test_a_stop_signal_sets_the_flag_and_reaches_the_handler_installed_before(
    sigterm_restored: list[int],
) -> None:
    shutdown.stop_on_signals([signal.SIGTERM])
    shutdown.stop_on_signals([signal.SIGTERM])  # once is enough: not chained twice

    os.kill(os.getpid(), signal.SIGTERM)

    assert shutdown.stopping.is_set()
    assert sigterm_restored == [signal.SIGTERM]
