"""When a new notification is first sent: at once (the platform's default), or in the merchant's daily batch
(ECTicket-compatible, §4: "once a day at a scheduled time"), and which events are too old to tell."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from shared.clock import TAIPEI
from shared.merchants.model import NotifySchedule

DAILY_AT = time(9, 0)  # ECTicket does not say when its batch runs; 09:00 Asia/Taipei, before a working day


def first_due(schedule: NotifySchedule, now: datetime, daily_at: time = DAILY_AT) -> datetime:
    """`now` for immediate merchants; the next `daily_at` (Asia/Taipei) strictly after `now` for daily ones."""
    if schedule is NotifySchedule.IMMEDIATE:
        return now
    local = now.astimezone(TAIPEI)
    today = datetime.combine(local.date(), daily_at, tzinfo=TAIPEI)
    due = today if today > local else datetime.combine(local.date() + timedelta(days=1), daily_at, tzinfo=TAIPEI)
    return due.astimezone(now.tzinfo)


def too_old(occurred_at: datetime, now: datetime, max_age: timedelta) -> bool:
    """An event older than `max_age` is not notified: when the service first starts (or its group is reset) it
    reads the whole event history, and merchants must not be woken by news of days ago."""
    return now - occurred_at > max_age
