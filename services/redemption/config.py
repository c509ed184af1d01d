"""Redemption settings from the environment (read once, when the service starts).

REDEMPTION_TICKET_WAIT_SECONDS (10), REDEMPTION_EXPIRY_BATCH (2000), REDEMPTION_EXPIRY_WORKERS (2):
docs/redemption.md says what each one trades. BUSINESS_DAY_CUTOFF (platform-wide, shared.settings) bounds the
cancel window.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time, timedelta

from shared.settings import business_day_cutoff


@dataclass(frozen=True)
class RedemptionConfig:
    # How long a request for a ticket not seen yet waits for its TicketsIssued before it is refused (3001).
    ticket_wait: timedelta = timedelta(seconds=10)
    # Tickets expired per transaction: bounds memory and lock time.
    expiry_batch: int = 2000
    # Expiry batches in flight at once: while one decides, the others wait on Postgres; SKIP LOCKED keeps them
    # disjoint.
    expiry_workers: int = 2
    # How often the expiry scheduler looks for due tickets (it goes on at once while batches come back full).
    expiry_sweep_seconds: float = 1.0
    # How often parked requests are checked for a deadline that passed or a ticket that arrived unseen.
    waiting_sweep_seconds: float = 0.5
    # The platform's business-day cut-off: a write-off or refund may be cancelled until it (or midnight).
    cutoff: time = time(0)

    @classmethod
    def from_env(cls) -> RedemptionConfig:
        return cls(
            ticket_wait=timedelta(seconds=float(os.environ.get("REDEMPTION_TICKET_WAIT_SECONDS", "10"))),
            expiry_batch=int(os.environ.get("REDEMPTION_EXPIRY_BATCH", "2000")),
            expiry_workers=int(os.environ.get("REDEMPTION_EXPIRY_WORKERS", "2")),
            cutoff=business_day_cutoff(),
        )
