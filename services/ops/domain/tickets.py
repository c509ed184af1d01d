"""Counters moved by payments, Issue requests and orders, and by the ticket state changes."""

from __future__ import annotations

from services.ops.domain.state import OrderRecord, PartitionState
from shared.contracts.issuance import IssueAccepted, IssueFailed, TicketsIssued
from shared.contracts.payments import PaymentConfirmed, PaymentRejected, PaymentRejectReason
from shared.contracts.redemption import (
    RedemptionRejected,
    RefundCancelled,
    TicketEvent,
    TicketExpired,
    TicketRefunded,
    TicketWrittenOff,
    WriteOffCancelled,
)


def on_payment(state: PartitionState, event: PaymentConfirmed | PaymentRejected) -> None:
    m = event.merchant_id
    if isinstance(event, PaymentConfirmed):
        state.add(m, "payments_duplicate" if event.duplicate_of else "payments_confirmed")
        state.add(m, "payments_confirmed_amount", event.amount)
    else:
        # An unknown merchant's rejection is counted overall only: a flood of made-up MerchantIDs (issue 8) would
        # otherwise add a scope per name to the partition's state, past what one changelog record may hold.
        scope = None if event.reason is PaymentRejectReason.UNKNOWN_MERCHANT else m
        state.add(scope, "payments_rejected")
        state.add(scope, f"rejected:payment:{event.reason.value}")


def on_issuance(
    state: PartitionState, order: OrderRecord | None, event: IssueAccepted | TicketsIssued | IssueFailed
) -> None:
    m = event.merchant_id
    if isinstance(event, IssueAccepted):
        state.add(m, "issue_requests_accepted")
        if order is not None and not order.waiting:
            order.waiting = True
            state.add(m, "issue_waiting")
        return
    if isinstance(event, TicketsIssued):
        state.add(m, "orders_issued")
        state.add(m, "orders_issued_amount", event.total_face_value)
        state.add(m, "tickets_issued", len(event.tickets))
        state.add(m, "tickets_issued_amount", sum(t.face_value for t in event.tickets))
    else:
        state.add(m, f"rejected:rtn:{event.rtn_code}")
        state.add(m, "orders_failed" if event.final else "issue_requests_refused")
        if not event.final:
            return  # a validation refusal: the order (if any) still waits for a corrected request
    if order is not None and order.waiting:
        order.waiting = False
        state.add(m, "issue_waiting", -1)


def on_ticket(state: PartitionState, event: TicketEvent | RedemptionRejected) -> None:
    m = event.merchant_id
    if isinstance(event, RedemptionRejected):
        state.add(m, "redemptions_rejected")
        state.add(m, f"rejected:rtn:{int(event.rtn_code)}")
    elif isinstance(event, TicketWrittenOff):
        state.add(m, "tickets_written_off")
        state.add(m, "tickets_written_off_amount", event.face_value)
    elif isinstance(event, WriteOffCancelled):
        state.add(m, "tickets_written_off", -1)
        state.add(m, "tickets_written_off_amount", -event.face_value)
        state.add(m, "write_offs_cancelled")
    elif isinstance(event, TicketRefunded):
        state.add(m, "tickets_refunded")
        state.add(m, "tickets_refunded_amount", event.refund_amount)
        state.add(m, "refund_fees", event.fee)
    elif isinstance(event, RefundCancelled):
        state.add(m, "tickets_refunded", -1)
        state.add(m, "tickets_refunded_amount", -event.refund_amount)
        state.add(m, "refund_fees", -event.fee)
        state.add(m, "refunds_cancelled")
    elif isinstance(event, TicketExpired):
        state.add(m, "tickets_expired")
        state.add(m, "tickets_expired_amount", event.face_value)
        state.add(m, f"tickets_expired_{event.kind.value}")
