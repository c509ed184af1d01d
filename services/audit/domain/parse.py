"""A record's envelope and typed payload, validated in one pass (pure).

The services read an event in two steps: the envelope (its payload as a dict), then the payload's model from that
dict. The replay reads every event of the log, so it validates each one once, straight from its JSON bytes, with a
union of typed envelopes (one per registered event type, chosen by `event_type`): the same models and rules, no
intermediate dict. Its envelope's `payload` is the typed event itself, so `payload_of` (which settlement's
`fact_from` calls again) hands back that instance instead of validating the payload a second time.

Anything the one-pass reader refuses is read again the services' way, so what is unreadable, and what the finding
says about it, is exactly what it was.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, Union, cast

from pydantic import Field, TypeAdapter, ValidationError, create_model

import shared.contracts  # noqa: F401  (registers every event type before the union is built)
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import REGISTRY, Event, payload_of


def parse(value: bytes) -> tuple[EventEnvelope, Event]:
    """The envelope and its payload; raises what `EventEnvelope.from_bytes` and `payload_of` raise."""
    try:
        envelope = _typed().validate_json(value)
    except ValidationError:
        slow = EventEnvelope.from_bytes(value)
        return slow, payload_of(slow)
    return envelope, cast(Event, envelope.payload)


@cache
def _typed() -> TypeAdapter[EventEnvelope]:
    models: list[Any] = []
    for name, model in sorted(REGISTRY.items()):
        literal: Any = Literal[name]
        models.append(create_model(f"Typed{name}", __base__=EventEnvelope, event_type=(literal, ...),
                                   payload=(model, ...)))  # fmt: skip
    union: Any = Annotated[Union[tuple(models)], Field(discriminator="event_type")]  # noqa: UP007
    return cast(TypeAdapter[EventEnvelope], TypeAdapter(union))
