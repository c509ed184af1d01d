"""What payment-confirmation publishes about each payment result: PaymentConfirmed or PaymentRejected (pure)."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.payment_confirmation.domain.aio_fields import ascii_amount
from services.payment_confirmation.domain.assessment import Refused
from shared.contracts.events import Outgoing, Producer
from shared.contracts.payments import PaymentConfirmed, PaymentRejected
from shared.ids import derived_id

PRODUCER = Producer("payment-confirmation")


def confirmed(payment: PaymentConfirmed, cause: uuid.UUID, now: datetime) -> Outgoing:
    return _event(payment, cause, now, "confirmed")


def rejected(
    fields: dict[str, str], refusal: Refused, confirmed_trade_no: str | None, cause: uuid.UUID, now: datetime
) -> Outgoing:
    """The refusal of a result as it was sent (its amount only if it is one); `confirmed_trade_no` names the
    payment that stands when this one conflicts with it."""
    event = PaymentRejected(
        merchant_id=fields["MerchantID"],
        merchant_trade_no=fields["MerchantTradeNo"],
        trade_no=fields.get("TradeNo") or None,
        amount=ascii_amount(fields.get("TradeAmt", "")),
        reason=refusal.reason,
        message=refusal.message,
        confirmed_trade_no=confirmed_trade_no,
        received_at=now,
    )
    return _event(event, cause, now, "rejected")


def _event(event: PaymentConfirmed | PaymentRejected, cause: uuid.UUID, now: datetime, label: str) -> Outgoing:
    """Correlated by order (the event's key), caused by the payment result message."""
    return PRODUCER.event(event, derived_id(cause, label), now, causation_id=str(cause))
