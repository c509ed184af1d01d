"""Typed event payloads and the registry that ties an event_type to its model and topic."""

from __future__ import annotations

import uuid
from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from shared.clock import utc
from shared.contracts.envelope import EnvelopeHeader, EventEnvelope, envelope_bytes


class Event(BaseModel):
    """Base of every payload. Subclasses set `event_type`, `topic` and implement `key()`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    topic: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @abstractmethod
    def key(self) -> str:
        """The partition key: all events about one order share it, so they stay in order."""


REGISTRY: dict[str, type[Event]] = {}


def register(model: type[Event]) -> type[Event]:
    REGISTRY[model.event_type] = model
    return model


class Outgoing:
    """An event ready for the outbox: topic, key, and its envelope, whose JSON (`value`) is what gets published.

    `wrap` builds it from the JSON, serialised once (`envelope_bytes`); the envelope model is then parsed only if
    something asks for it (tests, mostly). Built from an envelope, as `Outgoing(topic, key, envelope)` (a test
    publishing again what it saw), `value` is that envelope's JSON. Equal when topic, key and value are.
    """

    __slots__ = ("_envelope", "_value", "event_id", "event_type", "key", "topic")

    def __init__(self, topic: str, key: str, envelope: EventEnvelope) -> None:
        self.topic, self.key = topic, key
        self.event_id, self.event_type = envelope.event_id, envelope.event_type
        self._envelope: EventEnvelope | None = envelope
        self._value: bytes | None = None

    @classmethod
    def serialised(cls, topic: str, key: str, event_id: uuid.UUID, event_type: str, value: bytes) -> Outgoing:
        out = cls.__new__(cls)
        out.topic, out.key, out.event_id, out.event_type = topic, key, event_id, event_type
        out._envelope, out._value = None, value
        return out

    @property
    def envelope(self) -> EventEnvelope:
        if self._envelope is None:
            self._envelope = EventEnvelope.from_bytes(self.value)
        return self._envelope

    @property
    def value(self) -> bytes:
        if self._value is None:
            self._value = self.envelope.to_bytes()
        return self._value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Outgoing):
            return NotImplemented
        return (self.topic, self.key, self.value) == (other.topic, other.key, other.value)

    __hash__ = None  # type: ignore[assignment]  # as before: the envelope's payload is a dict

    def __repr__(self) -> str:
        return f"Outgoing({self.topic!r}, {self.key!r}, {self.event_type} {self.event_id})"


def wrap(
    event: Event,
    *,
    event_id: uuid.UUID,
    occurred_at: datetime,
    producer: str,
    correlation_id: str,
    causation_id: str | None,
    topic: str | None = None,
) -> Outgoing:
    """The event in its envelope. The payload model is already validated, so it is serialised once, straight
    into the envelope's bytes; they equal `EventEnvelope(..., payload=event.model_dump(mode="json")).to_bytes()`."""
    key = event.key()
    header = EnvelopeHeader(
        event_id=event_id,
        event_type=event.event_type,
        schema_version=event.schema_version,
        occurred_at=utc(occurred_at),  # what the envelope's validator would have made of it
        producer=producer,
        key=key,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
    value = envelope_bytes(header, event.__pydantic_serializer__.to_json(event))
    return Outgoing.serialised(topic or event.topic, key, event_id, event.event_type, value)


@dataclass(frozen=True)
class Producer:
    """A service as the producer of events: the one way every service puts an event into its envelope."""

    name: str

    def event(
        self,
        event: Event,
        event_id: uuid.UUID,
        now: datetime,
        *,
        causation_id: str | None = None,
        correlation_id: str | None = None,
        occurred_at: datetime | None = None,
        topic: str | None = None,
    ) -> Outgoing:
        """`event_id` comes from what caused the event (`shared.ids.derived_id`), never from a clock or a random
        source, so a redelivered input yields the same event. The correlation id defaults to the event's key;
        `topic` to the event's own (a reply goes to its sender's reply topic, shared/topics.py)."""
        return wrap(
            event,
            event_id=event_id,
            occurred_at=occurred_at or now,
            producer=self.name,
            correlation_id=event.key() if correlation_id is None else correlation_id,
            causation_id=causation_id,
            topic=topic,
        )


class UnknownEventType(ValueError):
    """An event type no contract defines: a consumer must not skip what it cannot read (it is dead-lettered, and
    re-driven once the consumer knows the type)."""


def payload_of(envelope: EventEnvelope) -> Event:
    """The typed payload; every contract is registered (`shared/contracts/__init__.py`)."""
    model = REGISTRY.get(envelope.event_type)
    if model is None:
        raise UnknownEventType(f"unknown event type {envelope.event_type!r}")
    return model.model_validate(envelope.payload)


def json_schemas() -> dict[str, dict[str, Any]]:
    return {name: model.model_json_schema() for name, model in sorted(REGISTRY.items())}
