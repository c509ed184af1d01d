"""Consumed events become ledger facts: the right fact, caused by the envelope's event id, on the business day of
the moment the event describes (Asia/Taipei, with the configured cut-off); everything else maps to nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time

import pytest

from services.escrow_settlement.domain.accounts import OrderRef
from services.escrow_settlement.domain.facts import (
    EscrowExpired,
    OrderFailed,
    OrderIssued,
    PaymentReceived,
    PayoutConfirmed,
    RedemptionCancelled,
    RefundTransferRejected,
    ReturnCancelled,
    TicketRedeemed,
    TicketReturned,
    UsageExpired,
)
from services.escrow_settlement.inbound import fact_from
from shared.contracts.common import TicketType
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Event, wrap
from shared.contracts.issuance import IssueFailed
from shared.contracts.payments import PaymentConfirmed, PaymentRejected, PaymentRejectReason
from shared.contracts.settlement import PayoutInstructed, TransferConfirmed, TransferKind, TransferRejected
from tests.support.settlement import History

pytestmark = pytest.mark.unit

# 15:30 UTC is 23:30 in Taipei: still June 10 with a midnight cut-off, June 11 from a 22:00 cut-off.
LATE = datetime(2024, 6, 10, 15, 30, tzinfo=UTC)
MIDNIGHT, TEN_PM = time(0), time(22, 0)


def history() -> History:
    return History("3085676", LATE)


def test_a_confirmed_payment_puts_its_amount_in_escrow_for_the_merchants_order() -> None:
    h = history()
    h.paid_order(500, 700)
    payment = h.events[0]
    fact = fact_from(payment.envelope, MIDNIGHT)
    assert isinstance(fact, PaymentReceived)
    assert fact.amount == 1200 and fact.order == OrderRef("3085676", payment.envelope.payload["merchant_trade_no"])
    assert fact.cause_id == str(payment.envelope.event_id) and fact.on == date(2024, 6, 10)


def test_the_cut_off_moves_late_activity_to_the_next_business_day() -> None:
    h = history()
    h.paid_order(500)
    fact = fact_from(h.events[0].envelope, TEN_PM)
    assert fact is not None and fact.on == date(2024, 6, 11)


def test_issued_tickets_register_every_voucher_with_its_type_and_face_value() -> None:
    h = history()
    h.paid_order(500, gifts=1)
    [issued] = [e for e in h.events if e.envelope.event_type == "TicketsIssued"]
    fact = fact_from(issued.envelope, MIDNIGHT)
    assert isinstance(fact, OrderIssued)
    assert [(t.ticket_type, t.face_value) for t in fact.tickets] == [(TicketType.PICKUP, 500), (TicketType.GIFT, 0)]
    assert fact.escrow_expiry_date == date(2024, 9, 8) and fact.pickup_total == 500


def test_each_ticket_event_becomes_its_money_fact() -> None:
    h = history()
    pickup, gift = h.paid_order(1000, gifts=1)
    expected = [
        (h.written_off(pickup), TicketRedeemed),
        (h.write_off_cancelled(pickup), RedemptionCancelled),
        (h.refunded(pickup, fee=100), TicketReturned),
        (h.refund_cancelled(pickup, fee=100), ReturnCancelled),
        (h.expired(pickup, LATE), EscrowExpired),
        (h.expired(gift, LATE), UsageExpired),
    ]
    for event, kind in expected:
        fact = fact_from(event.envelope, MIDNIGHT)
        assert fact is not None and type(fact) is kind and fact.cause_id == str(event.envelope.event_id)
    refund = fact_from(expected[2][0].envelope, MIDNIGHT)
    assert isinstance(refund, TicketReturned) and refund.within_escrow
    assert (refund.fee, refund.refund_amount) == (100, 900)
    assert refund.ticket.face_value == 1000 and refund.ticket.ticket_no == pickup


def test_a_duplicate_genuine_payment_names_the_payment_that_stands() -> None:
    second = PaymentConfirmed(merchant_id="M1", merchant_trade_no="T1", trade_no="E2", amount=500,
                              payment_type="Credit_CreditCard", payment_date=LATE, simulated=True,
                              duplicate_of="E1")  # fmt: skip
    fact = fact_from(_envelope(second), MIDNIGHT)
    assert isinstance(fact, PaymentReceived) and fact.duplicate_of == "E1" and fact.amount == 500


def failure(**changes: object) -> IssueFailed:
    fields: dict[str, object] = {
        "merchant_id": "M1", "platform_id": None, "merchant_trade_no": "T1", "free_trade_no": None,
        "request_id": "R1", "rtn_code": 2007, "reason": "paid NT$400", "failed_at": LATE, "final": True,
    }  # fmt: skip
    return IssueFailed.model_validate(fields | changes)


def test_a_final_failure_of_a_paid_order_becomes_its_failure_on_the_day_it_failed() -> None:
    event = _envelope(failure())
    fact = fact_from(event, TEN_PM)
    assert isinstance(fact, OrderFailed) and fact.order == OrderRef("M1", "T1")
    assert fact.cause_id == str(event.event_id) and fact.on == date(2024, 6, 11) and fact.reason.startswith("2007")


def test_a_failure_that_is_not_final_or_of_a_gift_order_moves_no_money() -> None:
    assert fact_from(_envelope(failure(final=False)), MIDNIGHT) is None  # a refused request: no order row
    gift = failure(merchant_trade_no=None, free_trade_no="G1")
    assert fact_from(_envelope(gift), MIDNIGHT) is None


def test_bank_answers_become_transfer_outcomes_of_their_instruction() -> None:
    instruction = uuid.uuid4()
    common = {"instruction_id": instruction, "merchant_id": "M1", "amount": 550, "at": LATE}
    payout = TransferConfirmed(**common, transfer=TransferKind.PAYOUT, ticket_trade_no=None)
    refund = TransferRejected(**common, transfer=TransferKind.REFUND, ticket_trade_no="T1", reason="closed")
    confirmed = fact_from(_envelope(payout), MIDNIGHT)
    rejected = fact_from(_envelope(refund), MIDNIGHT)
    assert isinstance(confirmed, PayoutConfirmed) and confirmed.instruction_id == instruction
    assert isinstance(rejected, RefundTransferRejected) and rejected.order == OrderRef("M1", "T1")
    assert rejected.reason == "closed" and rejected.amount == 550


def test_events_that_move_no_ledger_money_map_to_nothing() -> None:
    rejected = PaymentRejected(merchant_id="M1", merchant_trade_no="T1", reason=PaymentRejectReason.NOT_PAID,
                               message="no", received_at=LATE)  # fmt: skip
    ours = PayoutInstructed(instruction_id=uuid.uuid4(), merchant_id="M1", business_date=date(2024, 6, 10),
                            attempt=0, amount=10, payable_part=10, fee_part=0)  # fmt: skip
    assert fact_from(_envelope(rejected), MIDNIGHT) is None
    assert fact_from(_envelope(ours), MIDNIGHT) is None  # its Sent fact was posted when the run planned it


def _envelope(event: Event) -> EventEnvelope:
    return wrap(event, event_id=uuid.uuid4(), occurred_at=LATE, producer="t", correlation_id="c",
                causation_id=None).envelope  # fmt: skip
