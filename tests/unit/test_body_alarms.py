"""The one alarm thread that cuts a slow body's socket timeout at its deadline."""

from __future__ import annotations

import socket
import threading
import time

from functions.body import _ALARMS, EXPIRED_SECONDS


def test_an_alarm_cuts_its_sockets_timeout_at_the_deadline_and_a_cancelled_one_does_not() -> None:
    late, early = socket.socketpair()
    cancelled, other = socket.socketpair()
    try:
        for sock in (late, cancelled):
            sock.settimeout(30)
        _ALARMS.set(time.monotonic() + 0.05, late)
        _ALARMS.cancel(_ALARMS.set(time.monotonic() + 0.05, cancelled))
        time.sleep(0.3)
        assert late.gettimeout() == EXPIRED_SECONDS
        assert cancelled.gettimeout() == 30
    finally:
        for sock in (late, early, cancelled, other):
            sock.close()


def test_many_bodies_share_one_alarm_thread() -> None:
    pairs = [socket.socketpair() for _ in range(50)]
    try:
        before = threading.active_count()
        alarms = [_ALARMS.set(time.monotonic() + 30, a) for a, _ in pairs]
        assert threading.active_count() <= before + 1
        for alarm in alarms:
            _ALARMS.cancel(alarm)
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_an_alarm_earlier_than_the_ones_set_before_it_still_fires_at_its_deadline() -> None:
    # The thread sleeps until the earliest deadline it knows; a new earlier one must wake it.
    waiting, waiting_peer = socket.socketpair()
    hurried, hurried_peer = socket.socketpair()
    try:
        for sock in (waiting, hurried):
            sock.settimeout(30)
        later = _ALARMS.set(time.monotonic() + 30, waiting)
        time.sleep(0.05)  # the thread is now asleep until that deadline
        _ALARMS.set(time.monotonic() + 0.05, hurried)
        time.sleep(0.3)
        assert hurried.gettimeout() == EXPIRED_SECONDS
        assert waiting.gettimeout() == 30
        _ALARMS.cancel(later)
    finally:
        for sock in (waiting, waiting_peer, hurried, hurried_peer):
            sock.close()
