"""A raw record -> a Fact the fold reads, or Poison (what no contract reads; dead-lettered, never skipped).

In one pass, as every consumer reads an event (shared/contracts/envelope_read.py): a record the one pass refuses is
read again the two-pass way, so a Poison says exactly what `EventEnvelope.from_bytes` / `payload_of` say about it.
"""

from __future__ import annotations

from services.ops.domain.facts import Fact, Poison
from shared.contracts.envelope_read import read_event
from shared.infra.deadletters import safe_text
from shared.infra.messages import MAX_EVENT_BYTES


def parse(topic: str, partition: int, offset: int, value: bytes | None) -> Fact | Poison:
    raw = value or b""
    try:
        if len(raw) > MAX_EVENT_BYTES:
            raise ValueError(f"{len(raw)} bytes, more than {MAX_EVENT_BYTES}")
        envelope, payload = read_event(raw)
    except Exception as exc:  # anything a record can make the parser raise is the record's fault here
        return Poison(topic, partition, offset, safe_text(f"{type(exc).__name__}: {exc}"))
    return Fact(topic, partition, offset, envelope.event_type, envelope.occurred_at, envelope.key, payload)
