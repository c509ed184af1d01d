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
    # No longer published (a second genuine trade is now a PaymentConfirmed with duplicate_of); kept so the
    # rejections published before that still read.
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    # The processor's record of the trade differs from the result (forged or altered by whoever signed it).
    PROCESSOR_MISMATCH = "processor_mismatch"
    # The processor never captured the trade within the verification wait (PAYMENT_VERIFY_GIVE_UP_SECONDS).
    NOT_CAPTURED = "not_captured"


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
    # The merchant's escrow days when the payment result passed its local checks (the payment moment): issuance
    # fixes the escrow end with it, so a configuration change later does not move it.
    escrow_days: int | None = None
    # Set on a second genuine captured payment for an order already paid: the TradeNo of the payment that stands.
    # Issuance ignores such a payment; the ledger puts it in suspense and refunds it in full.
    duplicate_of: str | None = None

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


class PaymentAlertKind(StrEnum):
    PROCESSOR_MISMATCH = "processor_mismatch"  # the processor's record contradicts the result
    NOT_CAPTURED = "not_captured"  # the processor never captured the trade the result reports


class PaymentAlertSeverity(StrEnum):
    WARNING = "warning"  # worth a look: no money moved, but a merchant reported a payment nobody captured
    CRITICAL = "critical"  # a signed result the processor contradicts: forged or altered, investigate the merchant


@register
class PaymentAlertRaised(Event):
    """A payment result the processor did not vouch for, for operations (beside its PaymentRejected)."""

    event_type = "PaymentAlertRaised"
    topic = PAYMENT_EVENTS

    kind: PaymentAlertKind
    severity: PaymentAlertSeverity
    merchant_id: str
    merchant_trade_no: str
    detail: str

    def key(self) -> str:
        return order_key(self.merchant_id, self.merchant_trade_no)
