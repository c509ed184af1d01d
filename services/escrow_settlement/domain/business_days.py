"""Which business days have ended, on whose clock (pure).

A business day ends at the platform's cut-off (BUSINESS_DAY_CUTOFF, shared.clock.business_day). A payout run for a
day pays what was released up to that day's end, so it may only run once the day has ended: before that, a cancel
on the same day could still reverse money already instructed to the bank (a claw-back). A sandbox merchant on a
test clock lives ahead of real time: its days end on its own clock, so its ledger dates (taken from its shifted
events) are paid out when its day ends, not when the real date catches up.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

from shared.clock import business_day


def has_ended(day: date, now: datetime, cutoff: time) -> bool:
    """True once `day` is over at `now` (the current business day is not)."""
    return day < business_day(now, cutoff)


def last_ended(now: datetime, cutoff: time) -> date:
    return business_day(now, cutoff) - timedelta(days=1)


def sandbox_runs_due(
    now: datetime, cutoff: time, ahead: Mapping[str, timedelta], latest: Mapping[str, date]
) -> list[tuple[str, date]]:
    """(merchant, day) for each merchant whose test clock runs `ahead` and whose last ended day (on that clock) has
    no sandbox run yet (`latest`: the last day each got one). Days skipped by a clock jump need no run of their own:
    a run pays everything due as of its day."""
    due = []
    for merchant_id, offset in sorted(ahead.items()):
        day = last_ended(now + offset, cutoff)
        if merchant_id not in latest or latest[merchant_id] < day:
            due.append((merchant_id, day))
    return due
