"""Faster spellings on the expiry hot path compute exactly what the plain ones did."""

from __future__ import annotations

import dataclasses
import hashlib
import string
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from services.redemption.domain import Ticket
from shared.clock import TAIPEI, end_of_business_day
from shared.contracts.common import RefundFeeRule, TicketType, UseStatus
from shared.ecticket.urlencoding import js_encode_uri_component, php_urlencode, rfc3986_encode
from shared.ids import PLATFORM_NAMESPACE, content_id, derived_id
from shared.infra.relay import KeyPartitioner

pytestmark = pytest.mark.unit

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
INSTANTS = st.none() | st.datetimes(timezones=st.just(UTC))


@given(cause=st.uuids() | TEXT, label=TEXT)
def test_derived_ids_are_uuid5_of_the_platform_namespace(cause: uuid.UUID | str, label: str) -> None:
    assert derived_id(cause, label) == uuid.uuid5(PLATFORM_NAMESPACE, f"{cause}/{label}")


@given(source=TEXT, raw=st.binary(max_size=64))
def test_content_ids_are_uuid5_of_the_platform_namespace(source: str, raw: bytes) -> None:
    expected = uuid.uuid5(PLATFORM_NAMESPACE, f"{source}/{hashlib.sha256(raw).hexdigest()}")
    assert content_id(source, raw) == expected


@given(day=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
def test_the_cached_end_of_a_business_day_is_the_next_taipei_midnight(day: date) -> None:
    assert end_of_business_day(day) == datetime.combine(day + timedelta(days=1), datetime.min.time(), TAIPEI)
    assert end_of_business_day(day).tzinfo is UTC


def _ticket() -> Ticket:
    return Ticket(
        ticket_no="N1", write_off_hash="H1", merchant_id="3085676", platform_id=None, ticket_trade_no="T1",
        merchant_trade_no="T1", free_trade_no=None, ticket_type=TicketType.PICKUP, item_no="X", item_name="Tea",
        face_value=500, start_date=date(2024, 6, 1), expire_date=None, escrow_expiry_date=date(2024, 8, 30),
        refund_fee_rule=RefundFeeRule(),
    )  # fmt: skip


@given(status=st.sampled_from(UseStatus), released=st.booleans(), written_off_at=INSTANTS, refunded_at=INSTANTS)
def test_with_state_is_dataclasses_replace(
    status: UseStatus, released: bool, written_off_at: datetime | None, refunded_at: datetime | None
) -> None:
    ticket = _ticket()
    assert ticket.with_state(status=status) == dataclasses.replace(ticket, status=status)
    assert ticket.with_state(escrow_released=released) == dataclasses.replace(ticket, escrow_released=released)
    times = ticket.with_state(written_off_at=written_off_at, refunded_at=refunded_at)
    assert times == dataclasses.replace(ticket, written_off_at=written_off_at, refunded_at=refunded_at)
    every = ticket.with_state(
        status=status, escrow_released=released, written_off_at=written_off_at, refunded_at=refunded_at
    )
    expected = dataclasses.replace(
        ticket, status=status, escrow_released=released, written_off_at=written_off_at, refunded_at=refunded_at
    )
    assert every == expected and type(every) is Ticket
    assert ticket == _ticket()  # the original is untouched


@given(key=st.binary(min_size=0, max_size=60), partitions=st.integers(1, 12))
def test_the_relay_partitions_every_key_like_the_default_partitioner(key: bytes, partitions: int) -> None:
    all_partitions = list(range(partitions))
    mine = KeyPartitioner()
    assert mine(key, all_partitions, all_partitions) == DefaultPartitioner()(key, all_partitions, all_partitions)
    assert mine(key, all_partitions, all_partitions) == DefaultPartitioner()(key, all_partitions, all_partitions)
    assert mine(None, all_partitions, all_partitions) in all_partitions


def _encoded_byte_by_byte(text: str, safe: bytes, *, space_as_plus: bool) -> str:
    """The encoders' definition, one decision per byte (what they computed before they used a table)."""
    out = []
    for byte in text.encode("utf-8"):
        if byte in safe:
            out.append(chr(byte))
        elif byte == 0x20 and space_as_plus:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


@given(text=st.text(st.characters(codec="utf-8"), max_size=80))
def test_the_table_driven_url_encoders_encode_every_byte_as_before(text: str) -> None:
    alnum = (string.ascii_letters + string.digits).encode()
    assert php_urlencode(text) == _encoded_byte_by_byte(text, alnum + b"-_.", space_as_plus=True)
    assert rfc3986_encode(text) == _encoded_byte_by_byte(text, alnum + b"-_.~", space_as_plus=False)
    assert js_encode_uri_component(text) == _encoded_byte_by_byte(text, alnum + b"-_.!~*'()", space_as_plus=False)
