"""When a failed notification is tried again, and when the platform stops trying (pure, tested on its own).

Exponential backoff with jitter: the n-th failure waits `first * 2**(n-1)` capped at `most`, of which a random
half is taken off ("equal jitter": never less than half the step, so retries do not bunch up and hammer an
endpoint that just came back, and never more than the step). Retries go on for at least `retry_for` after the
first attempt (72 hours by default, against ECTicket's four tries on one day): the last one is made at that mark,
and only a failure at or after it gives up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    first: timedelta = timedelta(seconds=10)
    most: timedelta = timedelta(hours=1)
    retry_for: timedelta = timedelta(hours=72)


@dataclass(frozen=True)
class RetryAt:
    at: datetime


@dataclass(frozen=True)
class GiveUp:
    reason: str


def step(policy: RetryPolicy, failures: int) -> timedelta:
    """The backoff step after `failures` failed attempts (1, 2, ...), before jitter."""
    if failures < 1:
        raise ValueError("a retry follows at least one failure")
    # Doubling stops at the cap; the exponent is bounded so a long retry history cannot overflow.
    doubled = policy.first * (1 << min(failures - 1, 40))
    return min(doubled, policy.most)


def next_try(
    policy: RetryPolicy, failures: int, first_attempt_at: datetime, now: datetime, jitter: float
) -> RetryAt | GiveUp:
    """After the `failures`-th failed attempt at `now`: when to try again, or give up. `jitter` in [0, 1)."""
    if not 0.0 <= jitter < 1.0:
        raise ValueError("jitter is a fraction in [0, 1)")
    ends = first_attempt_at + policy.retry_for
    if now >= ends:
        return GiveUp(f"not acknowledged after {failures} attempts over {now - first_attempt_at}")
    full = step(policy, failures)
    wait = full / 2 + (full / 2) * jitter
    return RetryAt(min(now + wait, ends))
