"""All of redemption's SQL, one module per table: `tickets` (the usage state and the expiry queue) and
`pending_requests` (requests waiting for their ticket). The outbox, inbox and dead letters are the consumer's
(`shared.infra`)."""

from services.redemption.store.pending_requests import (
    CLAIM_LIMIT,
    Waiting,
    claim_for,
    claim_ready,
    decode,
    encode,
    park,
)
from services.redemption.store.tickets import insert_issued, lock_due, lock_tickets, save

__all__ = [
    "CLAIM_LIMIT",
    "Waiting",
    "claim_for",
    "claim_ready",
    "decode",
    "encode",
    "insert_issued",
    "lock_due",
    "lock_tickets",
    "park",
    "save",
]
