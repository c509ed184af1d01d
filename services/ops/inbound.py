"""A raw record -> a Fact the fold reads, or Poison (what no contract reads; dead-lettered, never skipped)."""

from __future__ import annotations

from services.ops.domain.facts import Fact, Poison
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import payload_of
from shared.infra.deadletters import safe_text
from shared.infra.messages import MAX_MESSAGE_BYTES


def parse(topic: str, partition: int, offset: int, value: bytes | None) -> Fact | Poison:
    raw = value or b""
    try:
        if len(raw) > MAX_MESSAGE_BYTES:
            raise ValueError(f"{len(raw)} bytes, more than {MAX_MESSAGE_BYTES}")
        envelope = EventEnvelope.from_bytes(raw)
        payload = payload_of(envelope)
    except Exception as exc:  # anything a record can make the parser raise is the record's fault here
        return Poison(topic, partition, offset, safe_text(f"{type(exc).__name__}: {exc}"))
    return Fact(topic, partition, offset, envelope.event_type, envelope.occurred_at, envelope.key, payload)
