"""The payment/request join: a paid order is issued only against a confirmed payment of exactly its value; a
payment no request claims in time is given up (and refunded by settlement)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.contracts.rtncodes import RtnCode


@dataclass(frozen=True)
class KnownPayment:
    """Issuance's copy of what payment-confirmation decided about an order."""

    confirmed: bool
    trade_no: str | None
    amount: int | None
    payment_date: datetime | None
    rejection: str | None  # the latest refusal, reported if no confirmed payment ever arrives
    escrow_days: int | None = None  # the merchant's escrow days when the payment was confirmed (None: older event)


@dataclass(frozen=True)
class Issue:
    pass


@dataclass(frozen=True)
class Fail:
    code: RtnCode
    detail: str


@dataclass(frozen=True)
class Wait:
    pass


def join(pickup_total: int, payment: KnownPayment | None, now: datetime, deadline: datetime) -> Issue | Fail | Wait:
    if payment is not None and payment.confirmed:
        if payment.amount != pickup_total:
            return Fail(
                RtnCode.PAYMENT_AMOUNT_MISMATCH,
                f"paid NT${payment.amount} but the pickup vouchers are worth NT${pickup_total}",
            )
        return Issue()
    if now < deadline:
        return Wait()  # a rejected result may still be followed by the genuine payment
    if payment is not None and payment.rejection:
        return Fail(RtnCode.PAYMENT_NOT_ACCEPTED, f"no accepted payment; last rejection: {payment.rejection}")
    return Fail(RtnCode.PAYMENT_NOT_RECEIVED, f"no confirmed payment by {deadline.isoformat()}")


def unclaimed(payment: KnownPayment | None, claim_deadline: datetime | None) -> Fail:
    """The end of a confirmed payment no Issue request claimed by its deadline: the order number is used up."""
    trade_no = payment.trade_no if payment else None
    by = f" by {claim_deadline.isoformat()}" if claim_deadline else ""
    return Fail(RtnCode.PAYMENT_UNCLAIMED, f"no Issue request claimed payment {trade_no}{by}")
