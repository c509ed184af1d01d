"""Does the payment processor vouch for a payment result? The verifier's decision for one waiting result (pure).

A result that passed its local checks (`assessment.assess`) claims a trade. The processor's answer lists every
trade it holds for the result's order (`ProcessorTrade`). The result **matches** when one of them has

- the same TradeNo, and
- TradeAmt equal to the result's TradeAmt (whole NT$),
- PaymentType equal to the result's, character for character,
- PaymentDate the same instant (both are Taipei wall-clock times to the second),
- TradeStatus "1": captured.

TradeDate, StoreID and the other fields of a result move no money and are not compared.

The processor **contradicts** the result when the trade exists with another amount, type or date (whatever its
status), or when the order has trades but none with the result's TradeNo: a TradeNo the processor never issued
for that order. Such a result is forged or altered by whoever signed it, the merchant: it is rejected
(`processor_mismatch`) at once, with a critical alert.

The trade is **not captured yet** when it exists with the result's facts but another TradeStatus (authorised
only), or when the processor has no trade for the order at all (a processor records a trade before it posts
the result, but its query may lag). The result waits and is asked about again, with a growing pause
(`retry_at`), until `give_up` after it arrived; then it is rejected (`not_captured`) with a warning alert: no
money reached the processor, so none may reach the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.payment_confirmation.domain.aio_fields import aio_time
from shared.contracts.payments import PaymentAlertSeverity, PaymentConfirmed, PaymentRejectReason

CAPTURED = "1"  # AIO TradeStatus of a paid (captured) trade; "0" is authorised only


@dataclass(frozen=True)
class ProcessorTrade:
    """One trade as the processor's query reports it (PaymentDate read into an aware instant)."""

    merchant_id: str
    merchant_trade_no: str
    trade_no: str
    amount: int
    status: str
    payment_type: str
    payment_date: datetime


@dataclass(frozen=True)
class VerifyPolicy:
    """How long a result waits for its trade to be captured, and the pauses between two questions about it."""

    give_up: timedelta  # after arrival: PAYMENT_VERIFY_GIVE_UP_SECONDS
    first_retry: timedelta  # the pause after the first answer that leaves it waiting
    longest_retry: timedelta  # the pauses double up to this


@dataclass(frozen=True)
class Confirm:
    """The processor vouches for the result: its payment stands (or is a duplicate; `repeats` tells)."""


@dataclass(frozen=True)
class Reject:
    reason: PaymentRejectReason
    message: str
    severity: PaymentAlertSeverity


@dataclass(frozen=True)
class Retry:
    at: datetime
    note: str  # why it still waits, for operators


Verdict = Confirm | Reject | Retry


def trades_by_order(trades: Iterable[ProcessorTrade]) -> dict[tuple[str, str], list[ProcessorTrade]]:
    """The answer's trades per (MerchantID, MerchantTradeNo)."""
    orders: dict[tuple[str, str], list[ProcessorTrade]] = {}
    for trade in trades:
        orders.setdefault((trade.merchant_id, trade.merchant_trade_no), []).append(trade)
    return orders


def verify(
    claim: PaymentConfirmed,
    answer: Mapping[tuple[str, str], Sequence[ProcessorTrade]],
    arrived_at: datetime,
    attempts: int,
    now: datetime,
    policy: VerifyPolicy,
) -> Verdict:
    """The verdict on a result claiming `claim`, given the processor's trades per order, at `now`.

    `attempts` counts the earlier answers that left this result waiting (they set the next pause)."""
    trades = answer.get((claim.merchant_id, claim.merchant_trade_no), ())
    same = [t for t in trades if t.trade_no == claim.trade_no]
    if not same and trades:
        issued = ", ".join(sorted(t.trade_no for t in trades))
        return _mismatch(f"the processor has no TradeNo {claim.trade_no} for this order (it has {issued})")
    if not same:
        note = f"the processor has no trade for order {claim.merchant_trade_no} yet"
        return _wait(note, arrived_at, attempts, now, policy)
    trade = same[0]
    differences = _differences(claim, trade)
    if differences:
        return _mismatch(f"TradeNo {trade.trade_no}: {'; '.join(differences)}")
    if trade.status != CAPTURED:
        note = f"TradeNo {trade.trade_no} is not captured (TradeStatus {trade.status!r})"
        return _wait(note, arrived_at, attempts, now, policy)
    return Confirm()


def retry_at(arrived_at: datetime, attempts: int, now: datetime, policy: VerifyPolicy) -> datetime:
    """When to ask again after the `attempts`+1-th answer that left a result waiting: a pause doubling from
    `first_retry` up to `longest_retry`, never past the give-up instant (the last question is asked then)."""
    pause = min(policy.first_retry * (1 << min(attempts, 20)), policy.longest_retry)
    return min(now + pause, arrived_at + policy.give_up)


def _differences(claim: PaymentConfirmed, trade: ProcessorTrade) -> list[str]:
    said_vs_recorded = (
        ("TradeAmt", claim.amount, trade.amount),
        ("PaymentType", claim.payment_type, trade.payment_type),
        ("PaymentDate", claim.payment_date, trade.payment_date),
    )
    return [
        f"{name} {_text(said)} in the result, {_text(recorded)} at the processor"
        for name, said, recorded in said_vs_recorded
        if said != recorded
    ]


def _text(value: object) -> str:
    """A compared value as AIO writes it: times on the Taipei wall clock."""
    return aio_time(value) if isinstance(value, datetime) else str(value)


def _mismatch(detail: str) -> Reject:
    return Reject(
        PaymentRejectReason.PROCESSOR_MISMATCH,
        f"the processor contradicts the result: {detail}",
        PaymentAlertSeverity.CRITICAL,
    )


def _wait(note: str, arrived_at: datetime, attempts: int, now: datetime, policy: VerifyPolicy) -> Reject | Retry:
    if now >= arrived_at + policy.give_up:
        waited = int(policy.give_up.total_seconds())
        return Reject(
            PaymentRejectReason.NOT_CAPTURED,
            f"not captured within {waited} s of the result's arrival: {note}",
            PaymentAlertSeverity.WARNING,
        )
    return Retry(retry_at(arrived_at, attempts, now, policy), note)
