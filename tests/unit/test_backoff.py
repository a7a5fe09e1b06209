"""The backoff rule: base * 2**attempt, capped, shortened by up to ``jitter`` at random."""

from __future__ import annotations

import pytest

from common.config import Settings
from common.retry import BackoffPolicy


def no_jitter() -> float:
    return 0.0


def full_jitter() -> float:
    return 1.0


@pytest.mark.parametrize(("attempt", "expected"), [(0, 10.0), (1, 20.0), (2, 40.0), (5, 320.0)])
def test_the_delay_doubles_with_each_attempt(attempt: int, expected: float) -> None:
    policy = BackoffPolicy(base_seconds=10, max_seconds=10_000, jitter=0.1)
    assert policy.delay_seconds(attempt, no_jitter) == expected


def test_the_delay_never_exceeds_the_cap() -> None:
    policy = BackoffPolicy(base_seconds=10, max_seconds=100, jitter=0)
    assert policy.delay_seconds(3, no_jitter) == 80
    assert policy.delay_seconds(4, no_jitter) == 100
    assert policy.delay_seconds(50, no_jitter) == 100


def test_a_huge_attempt_number_gives_the_cap_instead_of_overflowing() -> None:
    policy = BackoffPolicy(base_seconds=10, max_seconds=3600, jitter=0)
    assert policy.delay_seconds(10**9, no_jitter) == 3600


def test_a_negative_attempt_number_counts_as_zero() -> None:
    assert (
        BackoffPolicy(base_seconds=10, max_seconds=3600, jitter=0).delay_seconds(-3, no_jitter)
        == 10
    )


def test_full_jitter_shortens_the_delay_by_exactly_the_jitter_fraction() -> None:
    policy = BackoffPolicy(base_seconds=10, max_seconds=10_000, jitter=0.25)
    assert policy.delay_seconds(2, full_jitter) == pytest.approx(40 * 0.75)


def test_jitter_is_applied_after_the_cap() -> None:
    policy = BackoffPolicy(base_seconds=10, max_seconds=100, jitter=0.5)
    assert policy.delay_seconds(20, full_jitter) == pytest.approx(50)


@pytest.mark.parametrize("draw", [0.0, 0.1, 0.5, 0.9, 0.999999])
def test_the_delay_stays_between_the_jittered_floor_and_the_undisturbed_delay(
    draw: float,
) -> None:
    policy = BackoffPolicy(base_seconds=10, max_seconds=10_000, jitter=0.1)
    delay = policy.delay_seconds(3, lambda: draw)
    assert 80 * 0.9 <= delay <= 80
    assert delay == pytest.approx(80 * (1 - 0.1 * draw))


def test_without_jitter_randomness_has_no_effect() -> None:
    policy = BackoffPolicy(base_seconds=10, max_seconds=10_000, jitter=0)
    assert policy.delay_seconds(3, full_jitter) == policy.delay_seconds(3, no_jitter) == 80


def test_the_default_policy_follows_the_design_ten_times_two_to_the_attempt() -> None:
    assert Settings().backoff.delay_seconds(3, no_jitter) == 10 * 2**3
