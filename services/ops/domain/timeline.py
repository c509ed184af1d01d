"""An order's timeline: which order an event is about, and one line of it for the drill-down."""

from __future__ import annotations

from typing import Any

from services.ops.domain.facts import Fact
from shared.contracts.issuance import IssueAccepted, IssueFailed, TicketsIssued
from shared.contracts.payments import PaymentConfirmed, PaymentRejected
from shared.contracts.redemption import RedemptionRejected, TicketEvent, TicketRefunded
from shared.contracts.settlement import LedgerEntryPosted, SettlementExceptionRaised
from shared.topics import ISSUANCE_EVENTS, PAYMENT_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_EVENTS

# The topics keyed by order (`merchant/trade_no`): shared/topics.py.
ORDER_KEYED_TOPICS = frozenset({PAYMENT_EVENTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_EVENTS})


def order_of(fact: Fact) -> tuple[str, str] | None:
    """(MerchantID, order number) when the event's key names an order (`merchant/trade_no`)."""
    if type(fact.payload).topic not in ORDER_KEYED_TOPICS or "/" not in fact.key:
        return None
    merchant_id, trade_no = fact.key.split("/", 1)
    return merchant_id, trade_no


def summary(fact: Fact) -> dict[str, Any]:
    return {"at": fact.occurred_at.isoformat(), "type": fact.event_type, "detail": _detail(fact)}


def _detail(fact: Fact) -> str:
    event = fact.payload
    if isinstance(event, PaymentConfirmed):
        return f"NT${event.amount} trade {event.trade_no}" + (
            f" (duplicate of {event.duplicate_of})" if event.duplicate_of else ""
        )
    if isinstance(event, PaymentRejected):
        return f"{event.reason.value}: {event.message[:120]}"
    if isinstance(event, IssueAccepted):
        return f"request {event.request_id}"
    if isinstance(event, TicketsIssued):
        return f"{len(event.tickets)} ticket(s), NT${event.total_face_value}"
    if isinstance(event, IssueFailed):
        return f"RtnCode {event.rtn_code}{' final' if event.final else ''}: {event.reason[:120]}"
    if isinstance(event, TicketRefunded):
        return f"ticket {event.ticket_no}: NT${event.refund_amount} back, fee NT${event.fee}"
    if isinstance(event, TicketEvent):
        return f"ticket {event.ticket_no} NT${event.face_value}"
    if isinstance(event, RedemptionRejected):
        return f"{event.operation.value} RtnCode {int(event.rtn_code)}: {event.reason[:120]}"
    if isinstance(event, LedgerEntryPosted):
        moved = sum(line.amount for line in event.postings if line.amount > 0)
        return f"{event.kind}: NT${moved}"
    if isinstance(event, SettlementExceptionRaised):
        return f"{event.kind}: {event.detail[:120]}"
    return ""
