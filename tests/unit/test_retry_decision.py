"""retry.decide: the one answer to "wait this long, or dead-letter" after an attempt fails."""

from __future__ import annotations

import pytest

from common.retry import BackoffPolicy, DeadLetter, PastDeadline, Retry, decide
from common.states import Outcome

POLICY = BackoffPolicy(base_seconds=10, max_seconds=3600, jitter=0)


@pytest.mark.parametrize(("attempt", "wait"), [(1, 20), (2, 40), (4, 160)])
def test_an_error_with_attempts_left_waits_its_backoff(attempt: int, wait: float) -> None:
    assert decide(attempt, 5, Outcome.ERROR, POLICY) == Retry(wait)


def test_an_error_on_the_last_attempt_is_dead_lettered() -> None:
    assert decide(5, 5, Outcome.ERROR, POLICY) == DeadLetter()
    assert decide(6, 5, Outcome.ERROR, POLICY) == DeadLetter()  # given one more by hand


def test_a_permanent_error_is_dead_lettered_whatever_attempts_remain() -> None:
    assert decide(1, 100, Outcome.PERMANENT_ERROR, POLICY) == DeadLetter()


def test_an_expired_lease_is_retried_at_once_and_needs_no_backoff_policy() -> None:
    assert decide(2, 5, Outcome.LEASE_EXPIRED) == Retry(0.0)
    assert decide(5, 5, Outcome.LEASE_EXPIRED) == DeadLetter()


def test_randomness_reaches_the_backoff_only_through_the_given_draw() -> None:
    jittered = BackoffPolicy(base_seconds=10, max_seconds=3600, jitter=0.5)
    assert decide(1, 5, Outcome.ERROR, jittered, rand=lambda: 1.0) == Retry(10.0)


def test_a_success_or_an_error_without_a_policy_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no retry decision"):
        decide(1, 5, Outcome.SUCCESS, POLICY)
    with pytest.raises(ValueError, match="backoff policy"):
        decide(1, 5, Outcome.ERROR)


def test_a_retry_that_would_start_at_or_past_the_deadline_is_past_deadline() -> None:
    assert decide(1, 5, Outcome.ERROR, POLICY, seconds_to_deadline=21) == Retry(20)
    assert decide(1, 5, Outcome.ERROR, POLICY, seconds_to_deadline=20) == PastDeadline()
    assert decide(1, 5, Outcome.TIMEOUT, POLICY, seconds_to_deadline=5) == PastDeadline()


def test_an_expired_lease_past_the_deadline_is_past_deadline_but_the_dlq_comes_first() -> None:
    assert decide(2, 5, Outcome.LEASE_EXPIRED, seconds_to_deadline=-1) == PastDeadline()
    assert decide(2, 5, Outcome.LEASE_EXPIRED, seconds_to_deadline=1) == Retry(0.0)
    assert decide(5, 5, Outcome.ERROR, POLICY, seconds_to_deadline=-1) == DeadLetter()
