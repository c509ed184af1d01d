"""`wrap` serialises an event once, straight into the envelope's bytes: the wire stays byte-for-byte the same."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.contracts.common import FeeKind, RefundFeeRule, TicketType
from shared.contracts.envelope import EnvelopeHeader, EventEnvelope
from shared.contracts.envelope_read import read_envelope, read_event
from shared.contracts.events import Event, Outgoing, UnknownEventType, payload_of, wrap
from shared.contracts.ingest import RequestReplied
from shared.contracts.issuance import IssuedTicket, PaymentRef, TicketsIssued
from shared.contracts.redemption import (
    ExpiryKind,
    RedemptionOperation,
    RedemptionRejected,
    TicketExpired,
)
from shared.contracts.rtncodes import RtnCode
from shared.ids import derived_id

pytestmark = pytest.mark.unit

TAIPEI_OFFSET = timezone(timedelta(hours=8))
AT = datetime(2024, 6, 10, 23, 59, 59, 120000, tzinfo=TAIPEI_OFFSET)
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # anything UTF-8 can carry
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


def _wrapped_both_ways(event: Event, occurred_at: datetime = AT, correlation: str = "req-1") -> tuple[bytes, bytes]:
    """The envelope's bytes from `wrap`, and as `wrap` produced them before it serialised only once."""
    event_id = derived_id("ticket/N1", "expired/escrow")
    now = wrap(event, event_id=event_id, occurred_at=occurred_at, producer="redemption",
               correlation_id=correlation, causation_id=None)  # fmt: skip
    before = EventEnvelope(
        event_id=event_id, event_type=event.event_type, schema_version=event.schema_version, occurred_at=occurred_at,
        producer="redemption", key=event.key(), correlation_id=correlation, causation_id=None,
        payload=event.model_dump(mode="json"),
    )  # fmt: skip
    return now.value, before.to_bytes()


def _expired(name: str = '茶 tea \u2028 \x7f "quoted"') -> TicketExpired:
    return TicketExpired(
        merchant_id="3085676", platform_id=None, ticket_trade_no="ORD/1", merchant_trade_no=name, free_trade_no=None,
        ticket_no="N1", write_off_hash="H1", ticket_type=TicketType.PICKUP, face_value=500,
        escrow_expiry_date=date(2024, 9, 7), within_escrow=False, request_id=None, at=AT, kind=ExpiryKind.ESCROW,
    )  # fmt: skip


def _issued() -> TicketsIssued:
    line = IssuedTicket(ticket_no="N1", write_off_hash="H1", write_off_sealed="v1.S1", ticket_type=TicketType.GIFT, item_no=None,
                        item_name="Dessert", face_value=0, start_date=date(2024, 6, 10), expire_date=None,
                        refund_fee_rule=RefundFeeRule(kind=FeeKind.PERCENT, basis_points=1000))  # fmt: skip
    return TicketsIssued(
        merchant_id="3085676", platform_id="3085672", ticket_trade_no="T1", merchant_trade_no="T1", free_trade_no=None,
        request_id="r1", issue_type="3", issued_at=AT, payment=PaymentRef(trade_no="P1", amount=500, payment_date=AT),
        escrow_days=90, escrow_expiry_date=date(2024, 9, 7), total_face_value=0, tickets=(line, line),
    )  # fmt: skip


def _rejected() -> RedemptionRejected:
    return RedemptionRejected(
        operation=RedemptionOperation.CANCEL_REFUND, rtn_code=RtnCode.TICKET_NOT_FOUND, reason="找不到 ticket",
        merchant_id="3085676", acting_platform_id=None, ticket_no=None, write_off_hash="H1", ticket_trade_no=None,
        request_id="r1", at=AT,
    )  # fmt: skip


def test_the_header_has_the_envelope_fields_in_the_envelope_order_but_the_payload() -> None:
    fields = list(EventEnvelope.model_fields)
    assert fields[-1] == "payload"
    assert list(EnvelopeHeader.__annotations__) == fields[:-1]


@pytest.mark.parametrize("event", [_expired(), _issued(), _rejected()], ids=lambda e: e.event_type)
def test_wrapped_bytes_equal_the_envelope_serialised_the_old_way(event: Event) -> None:
    now, before = _wrapped_both_ways(event)
    assert now == before


@given(response=st.dictionaries(TEXT, JSON_VALUES, max_size=4), text=TEXT, minutes=st.integers(-900, 900))
def test_any_reply_any_text_any_offset_wraps_to_the_same_bytes(
    response: dict[str, Any], text: str, minutes: int
) -> None:
    event = RequestReplied(request_id=text, operation="WriteOff", merchant_id="3085676", platform_id=text or None,
                           trans_code=1, rtn_code=1, response=response, replied_at=AT)  # fmt: skip
    at = datetime(2024, 6, 10, 12, 0, 0, 1, tzinfo=timezone(timedelta(minutes=minutes)))
    now, before = _wrapped_both_ways(event, at, correlation=text)
    assert now == before


def test_the_bytes_read_back_as_the_same_envelope_ids_and_payload() -> None:
    out = wrap(_expired(), event_id=uuid.UUID(int=7), occurred_at=AT, producer="redemption", correlation_id="c",
               causation_id="m-1")  # fmt: skip
    envelope = EventEnvelope.from_bytes(out.value)
    assert out.envelope == envelope and (envelope.event_id, out.event_id) == (uuid.UUID(int=7), uuid.UUID(int=7))
    assert (envelope.event_type, out.event_type, envelope.key, out.key) == ("TicketExpired",) * 2 + (
        "3085676/ORD/1",
    ) * 2
    assert envelope.occurred_at == AT and envelope.occurred_at.utcoffset() == timedelta(0)
    assert payload_of(envelope) == _expired()


def test_an_outgoing_built_from_an_envelope_publishes_its_json() -> None:
    wrapped = wrap(_rejected(), event_id=uuid.UUID(int=3), occurred_at=AT, producer="p", correlation_id="c",
                   causation_id=None)  # fmt: skip
    again = Outgoing(wrapped.topic, wrapped.key, wrapped.envelope)
    assert again == wrapped and (again.event_id, again.event_type) == (wrapped.event_id, wrapped.event_type)
    assert again.value == wrapped.value


def test_a_naive_occurred_at_is_still_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        wrap(_expired(), event_id=uuid.UUID(int=1), occurred_at=datetime(2024, 6, 10),  # noqa: DTZ001 (naive on purpose)
             producer="p",
             correlation_id="c", causation_id=None)  # fmt: skip


def test_utc_stays_utc() -> None:
    now, before = _wrapped_both_ways(_expired(), datetime(2024, 6, 10, tzinfo=UTC))
    assert now == before and b'"occurred_at":"2024-06-10T00:00:00Z"' in now


@pytest.mark.parametrize("event", [_expired(), _issued(), _rejected()], ids=lambda e: e.event_type)
def test_one_pass_reads_the_same_envelope_and_payload_as_the_two_passes(event: Event) -> None:
    raw, _ = _wrapped_both_ways(event)
    envelope, payload = read_event(raw)
    two_passes = EventEnvelope.from_bytes(raw)
    assert payload == payload_of(two_passes) == event
    assert type(payload) is type(event)
    assert envelope.model_dump(exclude={"payload"}) == two_passes.model_dump(exclude={"payload"})
    assert payload_of(envelope) is payload  # typed already: handed back, not validated again


def test_what_one_pass_refuses_reads_as_the_two_passes_read_it() -> None:
    raw, _ = _wrapped_both_ways(_expired())
    unknown = raw.replace(b'"event_type":"TicketExpired"', b'"event_type":"TicketTeleported"')
    assert read_envelope(unknown) == EventEnvelope.from_bytes(unknown)  # its payload a dict, as before
    with pytest.raises(UnknownEventType, match="TicketTeleported"):
        read_event(unknown)
    refused = raw.replace(b'"face_value":500', b'"face_value":"five hundred"')
    assert read_envelope(refused).payload["face_value"] == "five hundred"
    with pytest.raises(ValidationError, match="face_value"):
        read_event(refused)
    for garbage in (b"", b"[]", b'{"event_type": "TicketExpired"}', raw[:-1]):
        with pytest.raises(ValueError):
            read_envelope(garbage)
