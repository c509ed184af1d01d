"""The retry decision on its own: exponential backoff with jitter, for at least 72 hours, then give up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notification.domain.retry import GiveUp, RetryAt, RetryPolicy, next_try, step

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
POLICY = RetryPolicy()  # production: 10 s doubling to 1 h, for 72 h


def test_the_backoff_doubles_from_ten_seconds_up_to_an_hour() -> None:
    steps = [step(POLICY, n).total_seconds() for n in range(1, 12)]
    assert steps == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
    assert step(POLICY, 10_000) == timedelta(hours=1)  # a long history cannot overflow


def test_jitter_takes_up_to_half_the_step_off() -> None:
    shortest = next_try(POLICY, 3, T0, T0, 0.0)
    longest = next_try(POLICY, 3, T0, T0, 0.999999)
    assert isinstance(shortest, RetryAt) and isinstance(longest, RetryAt)
    assert shortest.at == T0 + timedelta(seconds=20)
    assert timedelta(seconds=39.99) < longest.at - T0 < timedelta(seconds=40)


def test_a_notification_failing_for_ever_is_tried_for_at_least_72_hours_then_given_up() -> None:
    rng = random.Random(7)
    now, failures, tries = T0, 0, []
    while True:
        failures += 1
        decision = next_try(POLICY, failures, T0, now, rng.random())
        if isinstance(decision, GiveUp):
            break
        assert decision.at > now
        now = decision.at
        tries.append(now)
    assert now - T0 >= timedelta(hours=72)  # the last try is made at the 72-hour mark, not before it
    assert tries[-1] == T0 + timedelta(hours=72)
    assert 70 < failures < 150  # hourly once the backoff is capped, not a storm
    assert "not acknowledged after" in decision.reason


def test_a_failure_at_the_end_of_the_window_gives_up_at_once() -> None:
    assert isinstance(next_try(POLICY, 1, T0, T0 + timedelta(hours=72), 0.5), GiveUp)


@given(failures=st.integers(1, 500), jitter=st.floats(0, 1, exclude_max=True), after=st.integers(0, 72 * 3600 - 1))
def test_a_retry_is_never_sooner_than_half_its_step_nor_past_the_window(
    failures: int, jitter: float, after: int
) -> None:
    now = T0 + timedelta(seconds=after)
    decision = next_try(POLICY, failures, T0, now, jitter)
    assert isinstance(decision, RetryAt)
    ends = T0 + POLICY.retry_for
    assert decision.at <= ends
    assert decision.at == ends or decision.at - now >= step(POLICY, failures) / 2


def test_nonsense_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one failure"):
        step(POLICY, 0)
    with pytest.raises(ValueError, match="jitter"):
        next_try(POLICY, 1, T0, T0, 1.0)
