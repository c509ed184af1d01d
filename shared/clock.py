"""The clock port: every service reads time through it, so a sandbox test clock can move it.

Business dates are Asia/Taipei; timestamps on the wire are UTC.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

TAIPEI = ZoneInfo("Asia/Taipei")


class Clock(Protocol):
    def now(self, merchant_id: str | None = None) -> datetime:
        """Aware UTC now, as seen by this merchant (sandbox merchants may run on a test clock)."""
        ...


@dataclass
class SystemClock:
    """Real time, shifted per merchant by the offsets of its sandbox test clock (if any)."""

    offsets: Callable[[str], timedelta] = field(default=lambda _merchant: timedelta(0))

    def now(self, merchant_id: str | None = None) -> datetime:
        real = datetime.now(UTC)
        return real if merchant_id is None else real + self.offsets(merchant_id)


@dataclass
class FixedClock:
    """A clock that only moves when told to; for tests."""

    current: datetime
    per_merchant: Mapping[str, timedelta] = field(default_factory=dict)

    def now(self, merchant_id: str | None = None) -> datetime:
        shift = self.per_merchant.get(merchant_id, timedelta(0)) if merchant_id else timedelta(0)
        return self.current + shift

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def business_date(moment: datetime) -> date:
    """The Asia/Taipei calendar day of an aware instant (usage dates and escrow periods count calendar days)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: business dates need an aware instant")
    return moment.astimezone(TAIPEI).date()


MIDNIGHT = time(0)


def business_day(moment: datetime, cutoff: time = MIDNIGHT) -> date:
    """The business day an instant belongs to, the platform's one day for money (payout runs, the ledger's entry
    dates, the cancel window): its Taipei date, or the next one from the cut-off on (BUSINESS_DAY_CUTOFF)."""
    local_day = business_date(moment)
    late = cutoff != MIDNIGHT and moment.astimezone(TAIPEI).time() >= cutoff
    return local_day + timedelta(days=1) if late else local_day


def next_day_boundary(moment: datetime, cutoff: time = MIDNIGHT) -> datetime:
    """The first instant after `moment` at which the calendar day or the business day changes (aware UTC)."""
    local = moment.astimezone(TAIPEI)
    midnight = datetime.combine(local.date() + timedelta(days=1), MIDNIGHT, tzinfo=TAIPEI)
    if cutoff == MIDNIGHT or local.time() >= cutoff:
        return midnight.astimezone(UTC)
    return datetime.combine(local.date(), cutoff, tzinfo=TAIPEI).astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def end_of_business_day(day: date) -> datetime:
    """The first instant after `day` ends in Taipei, as aware UTC: a period 'ending on day' is over then.

    Cached (a pure function of an immutable date): an expiry sweep asks it several times per ticket, for the few
    dates that tickets share. The last representable day never ends (datetime.max): a date that far cannot come
    from a validated request, but an event carrying it must not make its consumer raise OverflowError."""
    if day == date.max:
        return datetime.max.replace(tzinfo=UTC)
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=TAIPEI).astimezone(UTC)


def start_of_business_day(day: date) -> datetime:
    if day == date.min:  # its start in Taipei is before the first representable UTC instant
        return datetime.min.replace(tzinfo=UTC)
    return datetime.combine(day, time.min, tzinfo=TAIPEI).astimezone(UTC)


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC)
