"""Consumed events -> ledger facts (pure). Everything else on the input topics is not the ledger's business.

Each fact carries the envelope's event_id as its cause (so a redelivery is recognised and entry ids are
deterministic) and the Asia/Taipei business day of the moment the event describes (payment date, issue time,
failure time, the ticket event's `at`, the bank's answer), never of its arrival, so any arrival order gives the
same ledger. Of issuance's failures only a final one of a paid order moves money (its payments are refunded); a
refused request (not final) or a gift order's failure is nobody's money.
Our own instructions on the instructions topic map to nothing: their Sent facts were posted when planned.
"""

from __future__ import annotations

from datetime import time

from services.escrow_settlement.domain.accounts import OrderRef
from services.escrow_settlement.domain.facts import (
    EscrowExpired,
    Fact,
    IssuedVoucher,
    OrderFailed,
    OrderIssued,
    PaymentReceived,
    PayoutConfirmed,
    PayoutRejected,
    RedemptionCancelled,
    RefundTransferConfirmed,
    RefundTransferRejected,
    ReturnCancelled,
    TicketRedeemed,
    TicketRef,
    TicketReturned,
    UsageExpired,
)
from services.escrow_settlement.domain.payouts import settlement_day
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import payload_of
from shared.contracts.issuance import IssueFailed, TicketsIssued
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.redemption import (
    ExpiryKind,
    RefundCancelled,
    TicketEvent,
    TicketExpired,
    TicketRefunded,
    TicketWrittenOff,
    WriteOffCancelled,
)
from shared.contracts.settlement import TransferKind, TransferOutcome, TransferRejected


def fact_from(envelope: EventEnvelope, cutoff: time) -> Fact | None:
    event = payload_of(envelope)
    cause = str(envelope.event_id)
    if isinstance(event, PaymentConfirmed):
        order = OrderRef(event.merchant_id, event.merchant_trade_no)
        return PaymentReceived(
            cause_id=cause,
            on=settlement_day(event.payment_date, cutoff),
            order=order,
            amount=event.amount,
            duplicate_of=event.duplicate_of,
        )
    if isinstance(event, TicketsIssued):
        vouchers = tuple(IssuedVoucher(t.ticket_no, t.ticket_type, t.face_value) for t in event.tickets)
        return OrderIssued(
            cause_id=cause,
            on=settlement_day(event.issued_at, cutoff),
            order=OrderRef(event.merchant_id, event.ticket_trade_no),
            tickets=vouchers,
            escrow_expiry_date=event.escrow_expiry_date,
        )
    if isinstance(event, IssueFailed):
        if not event.final or event.merchant_trade_no is None:
            return None
        return OrderFailed(
            cause_id=cause,
            on=settlement_day(event.failed_at, cutoff),
            order=OrderRef(event.merchant_id, event.merchant_trade_no),
            reason=f"{event.rtn_code}: {event.reason}",
        )
    if isinstance(event, TicketEvent):
        return _ticket_fact(event, cause, cutoff)
    if isinstance(event, TransferOutcome):
        return _transfer_fact(event, cause, cutoff)
    return None


def _ticket_fact(event: TicketEvent, cause: str, cutoff: time) -> Fact | None:
    order = OrderRef(event.merchant_id, event.ticket_trade_no)
    t = TicketRef(order, event.ticket_no, event.ticket_type, event.face_value)
    on, within = settlement_day(event.at, cutoff), event.within_escrow
    if isinstance(event, TicketWrittenOff):
        return TicketRedeemed(cause_id=cause, on=on, ticket=t, within_escrow=within)
    if isinstance(event, WriteOffCancelled):
        return RedemptionCancelled(cause_id=cause, on=on, ticket=t, within_escrow=within)
    if isinstance(event, TicketRefunded):
        return TicketReturned(
            cause_id=cause, on=on, ticket=t, within_escrow=within, fee=event.fee, refund_amount=event.refund_amount
        )
    if isinstance(event, RefundCancelled):
        return ReturnCancelled(
            cause_id=cause, on=on, ticket=t, within_escrow=within, fee=event.fee, refund_amount=event.refund_amount
        )
    if isinstance(event, TicketExpired):
        expired = EscrowExpired if event.kind is ExpiryKind.ESCROW else UsageExpired
        return expired(cause_id=cause, on=on, ticket=t)
    return None


def _transfer_fact(event: TransferOutcome, cause: str, cutoff: time) -> Fact | None:
    on, i, amount = settlement_day(event.at, cutoff), event.instruction_id, event.amount
    rejected = event.reason if isinstance(event, TransferRejected) else None
    if event.transfer is TransferKind.PAYOUT:
        m = event.merchant_id
        if rejected is not None:
            return PayoutRejected(
                cause_id=cause, on=on, instruction_id=i, merchant_id=m, amount=amount, reason=rejected
            )
        return PayoutConfirmed(cause_id=cause, on=on, instruction_id=i, merchant_id=m, amount=amount)
    if event.ticket_trade_no is None:
        return None  # a refund answer that names no order cannot be matched; nothing to post
    order = OrderRef(event.merchant_id, event.ticket_trade_no)
    if rejected is not None:
        return RefundTransferRejected(
            cause_id=cause, on=on, instruction_id=i, order=order, amount=amount, reason=rejected
        )
    return RefundTransferConfirmed(cause_id=cause, on=on, instruction_id=i, order=order, amount=amount)
