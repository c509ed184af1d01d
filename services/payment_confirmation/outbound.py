"""What payment-confirmation publishes about each payment result: PaymentConfirmed, or PaymentRejected (and a
PaymentAlertRaised when the processor did not vouch for it) (pure).

Event ids derive from the result's message id and a label ("confirmed", "rejected", "alert"): a verifier that
redoes a batch after a crash publishes the same ids, and downstream inboxes drop the repeats."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.payment_confirmation.domain.aio_fields import ascii_amount
from shared.contracts.events import Event, Outgoing, Producer
from shared.contracts.payments import (
    PaymentAlertKind,
    PaymentAlertRaised,
    PaymentAlertSeverity,
    PaymentConfirmed,
    PaymentRejected,
    PaymentRejectReason,
)
from shared.ids import derived_id

PRODUCER = Producer("payment-confirmation")
# Rejections after the processor's answer that operations hear about, and as what.
ALERTED = {
    PaymentRejectReason.PROCESSOR_MISMATCH: PaymentAlertKind.PROCESSOR_MISMATCH,
    PaymentRejectReason.NOT_CAPTURED: PaymentAlertKind.NOT_CAPTURED,
}


def confirmed(payment: PaymentConfirmed, cause: uuid.UUID, now: datetime) -> Outgoing:
    """The order's payment, or (with duplicate_of) a second genuine one to refund."""
    return _event(payment, cause, now, "confirmed")


def rejected(
    fields: dict[str, str],
    reason: PaymentRejectReason,
    message: str,
    cause: uuid.UUID,
    received_at: datetime,
    now: datetime,
) -> Outgoing:
    """The refusal of a result as it was sent (its amount only if it is one)."""
    event = PaymentRejected(
        merchant_id=fields["MerchantID"],
        merchant_trade_no=fields["MerchantTradeNo"],
        trade_no=fields.get("TradeNo") or None,
        amount=ascii_amount(fields.get("TradeAmt", "")),
        reason=reason,
        message=message,
        received_at=received_at,
    )
    return _event(event, cause, now, "rejected")


def alert(
    payment: PaymentConfirmed,
    reason: PaymentRejectReason,
    severity: PaymentAlertSeverity,
    message: str,
    cause: uuid.UUID,
    now: datetime,
) -> Outgoing:
    """Operations' notice of a result the processor did not vouch for (`reason` one of ALERTED)."""
    event = PaymentAlertRaised(
        kind=ALERTED[reason],
        severity=severity,
        merchant_id=payment.merchant_id,
        merchant_trade_no=payment.merchant_trade_no,
        detail=f"TradeNo {payment.trade_no}, NT${payment.amount}: {message}",
    )
    return _event(event, cause, now, "alert")


def _event(event: Event, cause: uuid.UUID, now: datetime, label: str) -> Outgoing:
    """Correlated by order (the event's key), caused by the payment result message."""
    return PRODUCER.event(event, derived_id(cause, label), now, causation_id=str(cause))
