"""The pure parts of the redemption shell: request Data, the expiry schedule, event ids, replies, parking."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.redemption.domain import (
    Refund,
    Ticket,
    WriteOff,
    WriteOffAction,
    decide,
    due_at,
    expiry_of,
    tickets_from_issued,
)
from services.redemption.inbound import Invalid, RequestedBy, command_from
from services.redemption.outbound import reply_fields, wrapped
from services.redemption.store import decode, encode
from shared.clock import TAIPEI
from shared.contracts.common import FeeKind, RefundFeeRule, TicketType, UseStatus
from shared.contracts.issuance import IssuedTicket, TicketsIssued
from shared.ecticket.replies import Asker
from shared.ecticket.write_off_codes import CodeKey
from shared.settings import DEV_CODE_KEY

pytestmark = pytest.mark.unit

MERCHANT, STRANGER = "3085676", "2000132"
CALLER = RequestedBy("req-1", MERCHANT, None)
KEY = CodeKey.from_hex(DEV_CODE_KEY)
NOW = datetime(2024, 6, 10, 12, 0, tzinfo=TAIPEI)


def _tickets() -> tuple[Ticket, Ticket]:
    def line(no: str, kind: TicketType, face: int) -> IssuedTicket:
        return IssuedTicket(
            ticket_no=f"TN{no}", write_off_hash=KEY.digest(f"WO{no}"), write_off_sealed="v1.S", ticket_type=kind, item_no="X", item_name="Tea",
            face_value=face, start_date=date(2024, 6, 1), expire_date=date(2024, 7, 31),
            refund_fee_rule=RefundFeeRule(kind=FeeKind.PERCENT, basis_points=1000),
        )  # fmt: skip

    issued = TicketsIssued(
        merchant_id=MERCHANT, platform_id=None, ticket_trade_no="ORD1", merchant_trade_no="ORD1", free_trade_no=None,
        request_id="issue-1", issue_type="3", issued_at=NOW, payment=None, escrow_days=90,
        escrow_expiry_date=date(2024, 8, 30), total_face_value=500,
        tickets=(line("P", TicketType.PICKUP, 500), line("G", TicketType.GIFT, 0)),
    )  # fmt: skip
    pickup, gift = tickets_from_issued(issued)
    return pickup, gift


PICKUP, GIFT = _tickets()


def _write_off(action: WriteOffAction, merchant_id: str = MERCHANT) -> WriteOff:
    return WriteOff(KEY.digest("WOP"), action, None, "pos1", None, f"r-{action}", merchant_id, None, "WOP")


@pytest.mark.parametrize("action", ["2", 2])
def test_a_write_off_action_2_as_text_or_number_is_a_cancel(action: object) -> None:
    data = {"WriteOffNo": "WOP", "Action": action, "Operator": "pos1", "StoreID": "", "CancelReason": "oops"}
    command = command_from("WriteOff", data, CALLER, KEY)
    assert isinstance(command, WriteOff)
    assert (command.action, command.store_id, command.cancel_reason) == (WriteOffAction.CANCEL, None, "oops")


def test_a_refund_without_action_is_a_refund_and_action_2_cancels_it() -> None:
    plain = command_from("Refund", {"TicketNo": "TNP", "WriteOffNo": "", "Operator": "desk"}, CALLER, KEY)
    assert isinstance(plain, Refund) and (plain.cancel, plain.write_off_hash) == (False, None)
    cancel = command_from("Refund", {"WriteOffNo": "WOP", "Action": "2", "Operator": "desk"}, CALLER, KEY)
    assert isinstance(cancel, Refund) and cancel.cancel


@pytest.mark.parametrize(
    ("operation", "data", "says"),
    [
        ("WriteOff", {"Action": "1", "Operator": "p"}, "WriteOffNo"),
        ("WriteOff", {"WriteOffNo": "W", "Action": "9", "Operator": "p"}, "Action"),
        ("WriteOff", {"WriteOffNo": "W", "Action": "1"}, "Operator"),
        ("Refund", {"TicketNo": "", "Operator": "p"}, "TicketNo or a WriteOffNo"),
        ("Refund", {"TicketNo": "T" * 40, "Operator": "p"}, "TicketNo"),
    ],
)
def test_data_that_cannot_be_decided_on_is_invalid_and_says_why(
    operation: str, data: dict[str, object], says: str
) -> None:
    invalid = command_from(operation, data, CALLER, KEY)
    assert isinstance(invalid, Invalid) and says in invalid.detail


def test_a_waiting_request_survives_the_trip_through_its_table_without_its_code_in_the_clear() -> None:
    write_off = WriteOff(
        KEY.digest("WOP"), WriteOffAction.CANCEL, "S1", "pos1", "why", "r1", MERCHANT, "3085672", "WOP"
    )
    for command in (write_off, Refund("TNP", KEY.digest("WOP"), True, "desk", "r2", MERCHANT, None)):
        kept = encode(command, KEY)
        assert "WOP" not in kept
        assert decode(kept, KEY) == command
    echoed = decode(encode(write_off, KEY), KEY)
    assert isinstance(echoed, WriteOff) and echoed.write_off_no == "WOP"  # echoed in the reply when it is decided


def test_only_unused_tickets_have_an_expiry_due_and_a_pickup_one_only_until_its_escrow_is_released() -> None:
    assert due_at(PICKUP) == PICKUP.escrow_ends_at and due_at(GIFT) == GIFT.usage_ends_at
    assert due_at(replace(PICKUP, escrow_released=True)) is None
    for status in (UseStatus.WRITTEN_OFF, UseStatus.REFUNDED, UseStatus.EXPIRED):
        assert due_at(replace(GIFT, status=status)) is None


@given(ticket=st.sampled_from([PICKUP, GIFT]), late=st.timedeltas(timedelta(0), timedelta(days=400)))
def test_a_ticket_picked_as_due_always_expires_and_leaves_the_schedule(ticket: Ticket, late: timedelta) -> None:
    """The scheduler's query and the core agree, so no due row can be picked again and again."""
    due = due_at(ticket)
    assert due is not None
    decision = decide(ticket, expiry_of(ticket), due + late)
    assert decision.events and decision.ticket is not None and due_at(decision.ticket) is None


def test_a_cancelled_write_off_puts_the_ticket_back_in_the_schedule() -> None:
    written = decide(PICKUP, _write_off(WriteOffAction.WRITE_OFF), NOW).ticket
    assert written is not None and due_at(written) is None
    undone = decide(written, _write_off(WriteOffAction.CANCEL), NOW).ticket
    assert undone is not None and due_at(undone) == PICKUP.escrow_ends_at


def test_an_escrow_release_has_one_event_id_whether_the_scheduler_or_a_late_request_emits_it() -> None:
    assert PICKUP.escrow_ends_at is not None
    after = PICKUP.escrow_ends_at + timedelta(days=1)
    asker = Asker(uuid.uuid4(), "r1", "WriteOff", MERCHANT, None, MERCHANT)
    by_request = decide(PICKUP, _write_off(WriteOffAction.WRITE_OFF), after)
    by_scheduler = decide(PICKUP, expiry_of(PICKUP), after)
    request_ids = [o.envelope.event_id for o in wrapped(by_request.events, asker, after)]
    scheduler_ids = [o.envelope.event_id for o in wrapped(by_scheduler.events, None, after)]
    assert request_ids[0] == scheduler_ids[0] and len(set(request_ids)) == 2
    assert [o.envelope.event_id for o in wrapped(by_request.events, asker, after)] == request_ids, "deterministic"


def test_a_reply_tells_a_stranger_nothing_about_the_ticket() -> None:
    stranger = _write_off(WriteOffAction.WRITE_OFF, STRANGER)
    assert reply_fields(stranger, decide(PICKUP, stranger, NOW)) == {"WriteOffNo": "WOP"}
    refund = Refund("TNP", None, False, "desk", "r2", MERCHANT, None)
    fields = reply_fields(refund, decide(PICKUP, refund, NOW))
    assert fields == {"TicketNo": "TNP", "TicketTradeNo": "ORD1", "UseStatus": 3, "RefundAmount": 450, "Fee": 50}
