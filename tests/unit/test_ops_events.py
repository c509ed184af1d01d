"""A known history of one merchant, as wire records (the ops tests and benchmark publish or fold it), and what the
ops counters must say about it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from shared.contracts.common import FeeKind, RefundFeeRule, TicketType
from shared.contracts.events import Event, Outgoing, Producer
from shared.contracts.issuance import IssueAccepted, IssuedTicket, TicketsIssued
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.redemption import RedemptionOperation, RedemptionRejected, TicketRefunded, TicketWrittenOff
from shared.contracts.rejections import MessageRejected
from shared.contracts.rtncodes import RtnCode
from shared.contracts.settlement import (
    LedgerEntryPosted,
    PayoutInstructed,
    PostingLine,
    TransferConfirmed,
    TransferKind,
)

AT = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
PRODUCER = Producer("ops-test")

# What the scenario's counters must be, for its merchant and overall (when it is the only merchant).
EXPECTED = {
    "orders_issued": 1,
    "orders_issued_amount": 300,
    "tickets_issued": 2,
    "tickets_issued_amount": 300,
    "tickets_written_off": 1,
    "tickets_written_off_amount": 100,
    "tickets_refunded": 1,
    "tickets_refunded_amount": 180,
    "issue_waiting": 1,
    "escrow_held": 0,
    "escrow_received": 300,
    "released_to_merchants": 100,
    "fees": 20,
    "paid_out": 120,
}


def _ticket(no: str, face: int) -> IssuedTicket:
    return IssuedTicket(
        ticket_no=no, write_off_hash=f"H{no}", write_off_sealed=f"v1.S{no}", ticket_type=TicketType.PICKUP, item_no="I1", item_name="Tea",
        face_value=face, start_date=None, expire_date=None, refund_fee_rule=RefundFeeRule(kind=FeeKind.FIXED, amount=20),
    )  # fmt: skip


def _ticket_fact(merchant: str, order: str, no: str, face: int) -> dict[str, object]:
    return dict(
        merchant_id=merchant, platform_id=None, ticket_trade_no=order, merchant_trade_no=order, free_trade_no=None,
        ticket_no=no, write_off_hash=f"H{no}", ticket_type=TicketType.PICKUP, face_value=face,
        escrow_expiry_date=date(2027, 2, 26), within_escrow=True, request_id="r", at=AT,
    )  # fmt: skip


def _entry(merchant: str, order: str | None, kind: str, *lines: tuple[str, str, int]) -> LedgerEntryPosted:
    return LedgerEntryPosted(
        entry_id=uuid.uuid4(), cause_id="c", business_date=AT.date(), kind=kind, merchant_id=merchant,
        ticket_trade_no=order, ticket_no=None, postings=tuple(PostingLine(account_kind=k, owner=o, amount=a) for k, o, a in lines),
        memo="",
    )  # fmt: skip


def scenario(merchant: str, order: str = "A1", waiting_order: str = "B1", at: datetime = AT) -> list[Outgoing]:
    """The history below, one second apart from `at`: an order's timeline is in the order of its events' times."""
    history = _history(merchant, order, waiting_order)
    return [PRODUCER.event(payload, uuid.uuid4(), at + timedelta(seconds=i)) for i, payload in enumerate(history)]


def _history(merchant: str, order: str, waiting_order: str) -> list[Event]:
    """Paid 300, issued 2 tickets (100 + 200), one written off, one refunded (fee 20), a payout of 120 confirmed;
    a second order accepted and still waiting for its payment; a refused write-off; a dead letter."""
    key = f"{merchant}/{order}"
    t1, t2 = _ticket_fact(merchant, order, "T1", 100), _ticket_fact(merchant, order, "T2", 200)
    payout = uuid.uuid4()
    return [
        (
            PaymentConfirmed(
                merchant_id=merchant,
                merchant_trade_no=order,
                trade_no="P1",
                amount=300,
                payment_type="Credit_CreditCard",
                payment_date=AT,
                simulated=True,
            )
        ),
        (
            IssueAccepted(
                merchant_id=merchant,
                platform_id=None,
                ticket_trade_no=order,
                merchant_trade_no=order,
                free_trade_no=None,
                request_id="r1",
                issue_type="1",
                accepted_at=AT,
            )
        ),
        (
            TicketsIssued(
                merchant_id=merchant,
                platform_id=None,
                ticket_trade_no=order,
                merchant_trade_no=order,
                free_trade_no=None,
                request_id="r1",
                issue_type="1",
                issued_at=AT,
                payment=None,
                escrow_days=90,
                escrow_expiry_date=date(2027, 2, 26),
                total_face_value=300,
                tickets=(_ticket("T1", 100), _ticket("T2", 200)),
            )
        ),
        (_entry(merchant, order, "payment_received", ("bank_cash", "escrow-bank", 300), ("escrow_held", key, -300))),
        (TicketWrittenOff(**t1, store_id=None, operator="pos")),
        (_entry(merchant, order, "write_off", ("escrow_held", key, 100), ("merchant_payable", merchant, -100))),
        (TicketRefunded(**t2, fee=20, refund_amount=180, operator="pos")),
        (
            _entry(
                merchant,
                order,
                "refund",
                ("escrow_held", key, 200),
                ("merchant_fee_income", merchant, -20),
                ("consumer_refund_payable", key, -180),
            )
        ),
        (
            IssueAccepted(
                merchant_id=merchant,
                platform_id=None,
                ticket_trade_no=waiting_order,
                merchant_trade_no=waiting_order,
                free_trade_no=None,
                request_id="r2",
                issue_type="1",
                accepted_at=AT,
            )
        ),
        (
            RedemptionRejected(
                operation=RedemptionOperation.WRITE_OFF,
                rtn_code=RtnCode.TICKET_NOT_FOUND,
                reason="no such ticket",
                merchant_id=merchant,
                acting_platform_id=None,
                ticket_no="X",
                write_off_hash=None,
                ticket_trade_no=None,
                request_id="r3",
                at=AT,
            )
        ),
        (
            PayoutInstructed(
                instruction_id=payout,
                merchant_id=merchant,
                business_date=AT.date(),
                attempt=1,
                amount=120,
                payable_part=100,
                fee_part=20,
            )
        ),
        (
            TransferConfirmed(
                instruction_id=payout,
                transfer=TransferKind.PAYOUT,
                merchant_id=merchant,
                ticket_trade_no=None,
                amount=120,
                at=AT,
            )
        ),
        (
            MessageRejected(
                consumer="issuance",
                source_topic="ecticket.payments.events.v1",
                source_partition=0,
                source_offset=7,
                raw_size=3,
                raw_sha256="0" * 64,
                raw_preview="{{{",
                error="bad json",
                rejected_at=AT,
                stage="parse",
                touches_money=True,
            )
        ),
    ]


def test_the_scenario_is_one_merchants_history_on_the_platforms_topics() -> None:
    events = scenario("M1")
    assert {e.topic for e in events} >= {"ecticket.issuance.events.v1", "ecticket.settlement.events.v1"}
    assert all(e.key.startswith("M1") or e.topic == "ecticket.platform.rejections.v1" for e in events)
