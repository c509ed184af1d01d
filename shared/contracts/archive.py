"""The archive of signed inputs (ecticket.audit.inputs.v1): each merchant-signed message a decision was taken on,
kept byte for byte as long as the events, so an auditor re-verifies its CheckMacValue with the merchant's keys.

The record's value is the ingested record's value, unchanged (the envelope's Data stays encrypted under the
merchant's keys; no platform secret is in it). Its key names the merchant, the topic it was read from and the
message id the deciding service gave it (`shared.ids.content_id` of those bytes): the decision's events carry that
id as their `causation_id`, which is how the auditor joins a decision to its input. The service appends it to its
outbox in the transaction of its decision, so the relay links it into the service's hash chain and a redelivered
message archives nothing twice (the record's id derives from the message id).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.contracts.events import Outgoing
from shared.ids import derived_id
from shared.topics import AUDIT_INPUTS

# The record's event_type header: what the value is (the AsyncAPI messages of the ingestion topics).
REQUEST = "IngestRequest"
PAYMENT_RESULT = "AioPaymentResult"


@dataclass(frozen=True, slots=True)
class ArchiveKey:
    merchant_id: str
    source: str  # the topic the message was read from
    message_id: uuid.UUID

    def __str__(self) -> str:
        return f"{self.merchant_id}/{self.source}/{self.message_id}"

    @classmethod
    def parse(cls, raw: bytes | None) -> ArchiveKey:
        """Raises ValueError for a key that is not `<MerchantID>/<source topic>/<message id>`."""
        parts = (raw or b"").decode(errors="replace").split("/")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise ValueError(f"archive key {(raw or b'')[:80]!r} is not <MerchantID>/<source topic>/<message id>")
        return cls(parts[0], parts[1], uuid.UUID(parts[2]))


def archived(kind: str, source: str, raw: bytes, message_id: uuid.UUID, merchant_id: str) -> Outgoing:
    """The archive record of one input (`kind`: REQUEST or PAYMENT_RESULT), for the deciding service's outbox."""
    key = ArchiveKey(merchant_id, source, message_id)
    return Outgoing.serialised(AUDIT_INPUTS, str(key), derived_id(message_id, "archived"), kind, raw)
