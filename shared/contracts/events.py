"""Typed event payloads and the registry that ties an event_type to its model and topic."""

from __future__ import annotations

import uuid
from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from shared.contracts.envelope import EventEnvelope


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


@dataclass(frozen=True)
class Outgoing:
    """An event ready for the outbox: topic, key and the envelope bytes."""

    topic: str
    key: str
    envelope: EventEnvelope


def wrap(
    event: Event,
    *,
    event_id: uuid.UUID,
    occurred_at: datetime,
    producer: str,
    correlation_id: str,
    causation_id: str | None,
) -> Outgoing:
    envelope = EventEnvelope(
        event_id=event_id,
        event_type=event.event_type,
        schema_version=event.schema_version,
        occurred_at=occurred_at,
        producer=producer,
        key=event.key(),
        correlation_id=correlation_id,
        causation_id=causation_id,
        payload=event.model_dump(mode="json"),
    )
    return Outgoing(topic=event.topic, key=envelope.key, envelope=envelope)


def payload_of(envelope: EventEnvelope) -> Event | None:
    """The typed payload, or None for event types this process does not know (consumers skip them)."""
    model = REGISTRY.get(envelope.event_type)
    return None if model is None else model.model_validate(envelope.payload)


def json_schemas() -> dict[str, dict[str, Any]]:
    return {name: model.model_json_schema() for name, model in sorted(REGISTRY.items())}
