"""Every event type the platform publishes is registered by importing the contracts, and survives the wire."""

from __future__ import annotations

import types
import typing
import uuid
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import AwareDatetime, BaseModel

from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import REGISTRY, Event, UnknownEventType, payload_of, wrap

pytestmark = pytest.mark.unit

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
AT = datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC)


def example(annotation: Any) -> Any:
    """A plausible value of a payload field's type (enough to build every event; validation checks the rest)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return example(args[0])
    if origin in (typing.Union, types.UnionType):
        return example(next(a for a in args if a is not type(None)))
    if origin in (list, tuple, set, frozenset):
        return [example(args[0])] if args else []
    if origin is dict:
        return {"k": example(args[1])} if args else {}
    if origin is typing.Literal:
        return args[0]
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return next(iter(annotation))
        if issubclass(annotation, BaseModel):
            return {name: example(f.annotation) for name, f in annotation.model_fields.items()}
        simple = {bool: True, int: 1, str: "A1", uuid.UUID: uuid.UUID(int=5), datetime: AT, date: AT.date()}
        for kind, value in simple.items():
            if issubclass(annotation, kind):
                return value
    if annotation is Any:
        return {}
    if annotation is AwareDatetime:
        return AT
    raise AssertionError(f"no example for {annotation!r}")


def an_instance(model: type[Event]) -> Event:
    return model.model_validate({name: example(f.annotation) for name, f in model.model_fields.items()})


def test_every_event_type_with_a_published_schema_is_registered_by_the_contracts_package() -> None:
    published = {p.stem for p in SCHEMAS.glob("*.json")} - {"EventEnvelope"}
    assert published == set(REGISTRY)


@pytest.mark.parametrize("event_type", sorted(REGISTRY))
def test_every_event_type_round_trips_through_its_envelope_bytes(event_type: str) -> None:
    event = an_instance(REGISTRY[event_type])
    out = wrap(event, event_id=uuid.UUID(int=1), occurred_at=AT, producer="p", correlation_id="c", causation_id=None)
    back = EventEnvelope.from_bytes(out.value)
    assert (back.event_type, payload_of(back)) == (event_type, event)


def test_an_event_type_no_contract_defines_is_refused_not_skipped() -> None:
    envelope = EventEnvelope(
        event_id=uuid.UUID(int=2), event_type="TicketsTeleported", occurred_at=AT, producer="p", key="k",
        correlation_id="c", payload={},
    )  # fmt: skip
    with pytest.raises(UnknownEventType):
        payload_of(envelope)
