"""Reading an event envelope and its typed payload in one pass, straight from its JSON bytes (pure).

An envelope read as `EventEnvelope.from_bytes` holds its payload as a dict, which `payload_of` then validates into
the event's model: two validations and a dict in between. Here one union of typed envelopes (one per registered
event type, chosen by `event_type`) validates both at once, with the same models and rules. The envelope's `payload`
is then the typed event itself, and `payload_of` hands that instance back without validating it again. About half
the time of the two passes (docs/benchmarks.md, "Events read in one pass by every consumer").

Anything the one pass refuses (an unknown event type, a payload its model refuses, bytes that are no envelope) is
read again the two-pass way, so what is unreadable, and what is said about it, stays exactly what it was.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, Union, cast

from pydantic import Field, TypeAdapter, ValidationError, create_model

import shared.contracts  # noqa: F401  (registers every event type before the union is built)
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import REGISTRY, Event, payload_of


def read_envelope(value: bytes) -> EventEnvelope:
    """The envelope, its payload typed when the one pass reads it; else `EventEnvelope.from_bytes(value)`, raising
    what that raises."""
    try:
        return _typed().validate_json(value)
    except ValidationError:
        return EventEnvelope.from_bytes(value)


def read_event(value: bytes) -> tuple[EventEnvelope, Event]:
    """The envelope and its typed payload; raises what `EventEnvelope.from_bytes` and `payload_of` raise."""
    envelope = read_envelope(value)
    return envelope, payload_of(envelope)


@cache
def _typed() -> TypeAdapter[EventEnvelope]:
    models: list[Any] = []
    for name, model in sorted(REGISTRY.items()):
        literal: Any = Literal[name]
        models.append(create_model(f"Typed{name}", __base__=EventEnvelope, event_type=(literal, ...),
                                   payload=(model, ...)))  # fmt: skip
    union: Any = Annotated[Union[tuple(models)], Field(discriminator="event_type")]  # noqa: UP007
    return cast(TypeAdapter[EventEnvelope], TypeAdapter(union))
