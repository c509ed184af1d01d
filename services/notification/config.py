"""The notification service's settings from the environment (defaults are production's)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time, timedelta

from services.notification.domain.retry import RetryPolicy


@dataclass(frozen=True)
class NotifyConfig:
    timeout: float  # seconds one POST may take, connection to last byte (NOTIFY_TIMEOUT_SECONDS)
    per_merchant: int  # notifications in flight to one merchant at once (NOTIFY_PER_MERCHANT)
    concurrency: int  # notifications in flight in all (NOTIFY_CONCURRENCY)
    poll: float  # seconds between looks for due notifications when idle (NOTIFY_POLL_SECONDS)
    retry: RetryPolicy  # NOTIFY_RETRY_FIRST_SECONDS, NOTIFY_RETRY_MAX_SECONDS, NOTIFY_RETRY_FOR_SECONDS
    daily_at: time  # the daily batch, Asia/Taipei (NOTIFY_DAILY_AT, HH:MM)
    order_wait: timedelta  # how long a notification waits for its order's TicketsIssued (NOTIFY_ORDER_WAIT_SECONDS)
    max_event_age: timedelta  # older events are not notified (NOTIFY_MAX_EVENT_AGE_SECONDS)
    # An attempt in flight is leased for the timeout plus this: if the process dies, it is sent again after the
    # lease (NOTIFY_LEASE_MARGIN_SECONDS).
    lease_margin: timedelta

    @classmethod
    def from_env(cls) -> NotifyConfig:
        def seconds(name: str, default: float) -> float:
            return float(os.environ.get(name, str(default)))

        hour, minute = os.environ.get("NOTIFY_DAILY_AT", "09:00").split(":")
        return cls(
            timeout=seconds("NOTIFY_TIMEOUT_SECONDS", 10),
            per_merchant=int(os.environ.get("NOTIFY_PER_MERCHANT", "2")),
            concurrency=int(os.environ.get("NOTIFY_CONCURRENCY", "400")),
            poll=seconds("NOTIFY_POLL_SECONDS", 0.1),
            retry=RetryPolicy(
                first=timedelta(seconds=seconds("NOTIFY_RETRY_FIRST_SECONDS", 10)),
                most=timedelta(seconds=seconds("NOTIFY_RETRY_MAX_SECONDS", 3600)),
                retry_for=timedelta(seconds=seconds("NOTIFY_RETRY_FOR_SECONDS", 72 * 3600)),
            ),
            daily_at=time(int(hour), int(minute)),
            order_wait=timedelta(seconds=seconds("NOTIFY_ORDER_WAIT_SECONDS", 10)),
            max_event_age=timedelta(seconds=seconds("NOTIFY_MAX_EVENT_AGE_SECONDS", 72 * 3600)),
            lease_margin=timedelta(seconds=seconds("NOTIFY_LEASE_MARGIN_SECONDS", 30)),
        )
