"""Events of the payment-confirmation service."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime

from shared.contracts.common import NTD, order_key
from shared.contracts.events import Event, register
from shared.topics import PAYMENT_EVENTS


class PaymentRejectReason(StrEnum):
    UNKNOWN_MERCHANT = "unknown_merchant"
    BAD_CHECKSUM = "bad_checksum"
    NOT_PAID = "not_paid"
    NOT_ONE_TIME_CREDIT_CARD = "not_one_time_credit_card"
    SIMULATED_IN_PRODUCTION = "simulated_payment_in_production"
    INVALID_FIELDS = "invalid_fields"
    CONFLICTING_DUPLICATE = "conflicting_duplicate"


@register
class PaymentConfirmed(Event):
    event_type = "PaymentConfirmed"
    topic = PAYMENT_EVENTS

    merchant_id: str
    merchant_trade_no: str
    trade_no: str
    amount: NTD
    payment_type: str
    payment_date: AwareDatetime
    trade_date: AwareDatetime | None = None
    simulated: bool
    store_id: str | None = None

    def key(self) -> str:
        return order_key(self.merchant_id, self.merchant_trade_no)


@register
class PaymentRejected(Event):
    event_type = "PaymentRejected"
    topic = PAYMENT_EVENTS

    merchant_id: str
    merchant_trade_no: str
    trade_no: str | None = None
    amount: int | None = None
    reason: PaymentRejectReason
    message: str
    # For a conflicting duplicate: the TradeNo of the payment that stays confirmed.
    confirmed_trade_no: str | None = None
    received_at: datetime

    def key(self) -> str:
        return order_key(self.merchant_id, self.merchant_trade_no)
