"""The ops app's one-pass parse reads every record exactly as the platform's two passes (envelope, then payload) do,
and a record it refuses becomes the same Poison they would make of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.ops.domain.facts import Fact, Poison
from services.ops.inbound import parse
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import REGISTRY, payload_of
from shared.infra.deadletters import safe_text
from shared.infra.messages import MAX_EVENT_BYTES
from tests.unit.test_ops_events import scenario


def _parse_slowly(topic: str, partition: int, offset: int, raw: bytes) -> Fact | Poison:
    """The platform's two passes, as the ops app read a record before it read every one in one pass."""
    try:
        if len(raw) > MAX_EVENT_BYTES:
            raise ValueError(f"{len(raw)} bytes, more than {MAX_EVENT_BYTES}")
        envelope = EventEnvelope.from_bytes(raw)
        payload = payload_of(envelope)
    except Exception as exc:
        return Poison(topic, partition, offset, safe_text(f"{type(exc).__name__}: {exc}"))
    return Fact(topic, partition, offset, envelope.event_type, envelope.occurred_at, envelope.key, payload)


def _ledger_entries() -> list[bytes]:
    from deploy.bench.ops import order_events  # the benchmark's records, the bulk of what it measures

    return [e.value for e in order_events("M1", "B1", datetime.now(UTC))]


def test_every_record_of_the_known_history_parses_to_the_same_fact_as_the_two_passes() -> None:
    records = [e.value for e in scenario("M1")] + _ledger_entries()
    kinds = set()
    for offset, raw in enumerate(records):
        fast, slow = parse("t", 0, offset, raw), _parse_slowly("t", 0, offset, raw)
        assert isinstance(fast, Fact) and fast == slow
        assert type(fast.payload) is REGISTRY[fast.event_type]
        kinds.add(fast.event_type)
    assert len(kinds) >= 8  # the history covers payments, issuance, redemption, settlement and the rejections


def _tampered(change: str) -> bytes:
    envelope = json.loads(scenario("M1")[0].value)
    if change == "unknown type":
        envelope["event_type"] = "NoSuchEvent"
    elif change == "bad payload":
        envelope["payload"]["amount"] = "a lot"
    elif change == "extra envelope field":
        envelope["surprise"] = 1
    elif change == "naive time":
        envelope["occurred_at"] = "2026-11-28T06:00:00"
    return json.dumps(envelope).encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"",
        b"x" * (MAX_EVENT_BYTES + 1),
        _tampered("unknown type"),
        _tampered("bad payload"),
        _tampered("extra envelope field"),
        _tampered("naive time"),
    ],
    ids=["not json", "empty", "too big", "unknown type", "bad payload", "extra envelope field", "naive time"],
)
def test_a_record_no_contract_reads_is_the_same_poison_as_before(raw: bytes) -> None:
    poison = parse("t", 2, 7, raw)
    assert isinstance(poison, Poison) and poison == _parse_slowly("t", 2, 7, raw)
    assert poison.error
