"""A payment result for an order already paid: the same payment again, or a conflicting second one."""

from __future__ import annotations

from dataclasses import dataclass

from services.payment_confirmation.domain.assessment import Refused
from shared.contracts.payments import PaymentConfirmed, PaymentRejectReason


@dataclass(frozen=True)
class Known:
    """The payment recorded for the order (the first confirmed one stands)."""

    trade_no: str
    amount: int


def is_same_payment(known: Known, new: PaymentConfirmed) -> bool:
    """A redelivery of the payment already recorded (changes nothing), as opposed to a conflicting second one."""
    return known.trade_no == new.trade_no and known.amount == new.amount


def refuse_repeat(known: Known, new: PaymentConfirmed) -> Refused | None:
    """None for the same payment again; a refusal naming the payment that stands for any other."""
    if is_same_payment(known, new):
        return None
    return Refused(
        PaymentRejectReason.CONFLICTING_DUPLICATE,
        f"order already paid by TradeNo {known.trade_no} (NT${known.amount}); this one is not applied",
    )
