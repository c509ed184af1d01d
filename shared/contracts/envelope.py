"""The event envelope every domain event travels in (JSON on the wire)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, TypeAdapter, field_validator
from typing_extensions import TypedDict  # pydantic needs this TypedDict before Python 3.12

from shared.clock import utc


class EventEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID
    event_type: str
    schema_version: int = 1
    occurred_at: AwareDatetime
    producer: str
    key: str
    correlation_id: str
    causation_id: str | None = None
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return utc(value)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> EventEnvelope:
        return cls.model_validate_json(raw)


class EnvelopeHeader(TypedDict):
    """An EventEnvelope without its payload: the same fields in the same order (a unit test keeps them so)."""

    event_id: uuid.UUID
    event_type: str
    schema_version: int
    occurred_at: AwareDatetime  # already UTC: nothing validates it on this path (`utc()` it first)
    producer: str
    key: str
    correlation_id: str
    causation_id: str | None


_HEADER = TypeAdapter(EnvelopeHeader)


def envelope_bytes(header: EnvelopeHeader, payload_json: bytes) -> bytes:
    """The bytes of `EventEnvelope(**header, payload=<payload_json parsed>).to_bytes()`, without building it.

    Publishing used to validate an envelope around an already validated payload, dump the payload to a dict and
    serialise that dict again: about half of the cost of an expiry. The header goes through pydantic's own
    serialiser (the same formats for the uuid and the datetime) and the payload, serialised once by its model, is
    spliced in as the last field, exactly where `model_dump_json` puts it.
    """
    return _HEADER.dump_json(header)[:-1] + b',"payload":' + payload_json + b"}"
