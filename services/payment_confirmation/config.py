"""payment-confirmation's settings from the environment (read once, when the service starts).

PROCESSOR_URL, PROCESSOR_HASH_KEY / PROCESSOR_HASH_IV (shared.ecticket.processor_query), PROCESSOR_PLATFORM_ID,
PROCESSOR_TIMEOUT_SECONDS, and the PAYMENT_VERIFY_* settings below; docs/money-trust.md ("Payment verification")
says what each one trades.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from services.payment_confirmation.domain.verification import VerifyPolicy
from shared.ecticket.processor_query import (
    DEFAULT_PROCESSOR_URL,
    DEV_PROCESSOR_HASH_IV,
    DEV_PROCESSOR_HASH_KEY,
    MAX_QUERY_ORDERS,
    ProcessorCredentials,
    processor_credentials,
    processor_url,
)

DEV_CREDENTIALS = ProcessorCredentials(DEV_PROCESSOR_HASH_KEY, DEV_PROCESSOR_HASH_IV)


@dataclass(frozen=True)
class PaymentConfig:
    processor_url: str = DEFAULT_PROCESSOR_URL
    credentials: ProcessorCredentials = DEV_CREDENTIALS
    # Who asks, in every trade query (the processor knows the platform by it and by its credentials).
    platform_id: str = "ECTICKET"
    # One trade query's deadline (connect, send, answer): a query left unanswered is retried later, never waited on.
    timeout_seconds: float = 10.0
    # How long a result waits for the processor to capture its trade, after it arrived.
    give_up: timedelta = timedelta(days=1)
    # The pause after an answer that leaves a result waiting; it doubles up to `longest_retry`.
    first_retry: timedelta = timedelta(seconds=1)
    longest_retry: timedelta = timedelta(minutes=5)
    # Waiting results per trade query (one query per batch; the processor answers at most MAX_QUERY_ORDERS orders).
    batch: int = MAX_QUERY_ORDERS
    # How often the verifier looks for due results when nothing woke it (a consumer batch queueing results does).
    poll_seconds: float = 0.5
    # After a wake, how long the verifier lets more results gather (and the queueing transaction commit) before
    # it claims a batch.
    gather_seconds: float = 0.02
    # While the processor cannot be asked, the pauses before the next query double from the first to the most.
    outage_first_seconds: float = 1.0
    outage_most_seconds: float = 30.0

    @property
    def policy(self) -> VerifyPolicy:
        return VerifyPolicy(give_up=self.give_up, first_retry=self.first_retry, longest_retry=self.longest_retry)

    @classmethod
    def from_env(cls) -> PaymentConfig:
        batch = int(os.environ.get("PAYMENT_VERIFY_BATCH", str(MAX_QUERY_ORDERS)))
        if not 0 < batch <= MAX_QUERY_ORDERS:
            raise ValueError(f"PAYMENT_VERIFY_BATCH must be 1-{MAX_QUERY_ORDERS}: one trade query asks that many")
        return cls(
            processor_url=processor_url(),
            credentials=processor_credentials(),
            platform_id=os.environ.get("PROCESSOR_PLATFORM_ID", "ECTICKET"),
            timeout_seconds=float(os.environ.get("PROCESSOR_TIMEOUT_SECONDS", "10")),
            give_up=timedelta(seconds=float(os.environ.get("PAYMENT_VERIFY_GIVE_UP_SECONDS", "86400"))),
            first_retry=timedelta(seconds=float(os.environ.get("PAYMENT_VERIFY_RETRY_SECONDS", "1"))),
            longest_retry=timedelta(seconds=float(os.environ.get("PAYMENT_VERIFY_RETRY_MAX_SECONDS", "300"))),
            batch=batch,
            poll_seconds=float(os.environ.get("PAYMENT_VERIFY_POLL_SECONDS", "0.5")),
        )
