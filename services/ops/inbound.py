"""A raw record -> a Fact the fold reads, or Poison (what no contract reads; dead-lettered, never skipped).

One pass: the envelope and its payload are validated from the JSON at once, the payload's model chosen by the
envelope's `event_type` (a discriminated union of one envelope model per contract). The platform's usual two
passes (the envelope with its payload as a dict, then `payload_of`) cost about half as much again per record, and
the ops app reads every record of the platform. A record the one pass refuses is read again the usual way, so a
Poison says exactly what `EventEnvelope.from_bytes` / `payload_of` say about it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, create_model

from services.ops.domain.facts import Fact, Poison
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import REGISTRY, Event, payload_of
from shared.infra.deadletters import safe_text
from shared.infra.messages import MAX_EVENT_BYTES


def _envelope_of(name: str, model: type[Event]) -> Any:
    """EventEnvelope whose event_type is `name` and whose payload is `model` (its validators and config kept)."""
    tag: Any = Literal.__getitem__(name)
    return create_model(
        f"{model.__name__}Envelope", __base__=EventEnvelope, event_type=(tag, ...), payload=(model, ...)
    )


def _one_pass() -> TypeAdapter[Any]:
    """Built from the registry at import (importing shared.contracts registers every contract)."""
    envelopes: Any = Union.__getitem__(tuple(_envelope_of(name, model) for name, model in REGISTRY.items()))
    return TypeAdapter(Annotated.__class_getitem__((envelopes, Field(discriminator="event_type"))))  # type: ignore[attr-defined]


_ENVELOPES = _one_pass()


def parse(topic: str, partition: int, offset: int, value: bytes | None) -> Fact | Poison:
    raw = value or b""
    try:
        if len(raw) > MAX_EVENT_BYTES:
            raise ValueError(f"{len(raw)} bytes, more than {MAX_EVENT_BYTES}")
        envelope = _ENVELOPES.validate_json(raw)
    except Exception:  # the one pass refused it: the usual two passes say why (or, in theory, accept it)
        return _parse_slowly(topic, partition, offset, raw)
    return Fact(topic, partition, offset, envelope.event_type, envelope.occurred_at, envelope.key, envelope.payload)


def _parse_slowly(topic: str, partition: int, offset: int, raw: bytes) -> Fact | Poison:
    try:
        if len(raw) > MAX_EVENT_BYTES:
            raise ValueError(f"{len(raw)} bytes, more than {MAX_EVENT_BYTES}")
        envelope = EventEnvelope.from_bytes(raw)
        payload = payload_of(envelope)
    except Exception as exc:  # anything a record can make the parser raise is the record's fault here
        return Poison(topic, partition, offset, safe_text(f"{type(exc).__name__}: {exc}"))
    return Fact(topic, partition, offset, envelope.event_type, envelope.occurred_at, envelope.key, payload)
