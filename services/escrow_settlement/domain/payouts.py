"""Settlement to the bank: which transfers to instruct for a business day, and the postings of their life cycle.

- Per merchant: one payout of merchant payable + fee income, only when that sum is positive. A negative sum (a
  claw-back after a cancellation) is carried: the next payout nets it. Never a negative bank transfer.
- Per order: one consumer refund of its refund payable, when positive.
- Held back: an order whose payment the bank's statement does not (yet) match (`held`, reconciliation.py) gives
  nothing: what it released to the merchant stays out of the merchant's payout (the rest of the merchant's money
  goes), and its consumer refund is not instructed; both are carried, with a notice, until matched or resolved.
- Ids: uuid5 of (merchant or order, business day, attempt), attempt = how many instructions that subject already
  has on that day. A rerun after a crash before the run committed gets the same ids (the bank deduplicates); money
  released after a committed run goes out under the next attempt. A rejected instruction is never re-sent under
  its id (the bank has seen that id fail): its money returns to payable and leaves with the next run under a new
  id. After `max_rejections` rejections in a row a subject is withheld and alerted instead.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from services.escrow_settlement.domain.accounts import (
    AccountKind,
    OrderRef,
    consumer_refund_payable,
    merchant_fee_income,
    merchant_payable,
)
from services.escrow_settlement.domain.facts import (
    PayoutRejected,
    PayoutSent,
    RefundTransferRejected,
    RefundTransferSent,
)
from services.escrow_settlement.domain.notices import Alert, AlertKind
from services.escrow_settlement.domain.state import LedgerState
from shared.clock import business_day
from shared.ids import derived_id


@dataclass(frozen=True)
class PayoutPolicy:
    cutoff: time = time(0)  # Asia/Taipei; at or after it, activity belongs to the next business day
    max_rejections: int = 3


def settlement_day(moment: datetime, cutoff: time = time(0)) -> date:
    """The business day an instant belongs to: the platform's one business day (shared.clock.business_day)."""
    return business_day(moment, cutoff)


def day_to_settle(now: datetime, cutoff: time, latest: date | None) -> date | None:
    """The last ended business day, if the timer has not requested its run yet (earlier missed days need no run
    of their own: a run pays everything due as of its day)."""
    ended = settlement_day(now, cutoff) - timedelta(days=1)
    return ended if latest is None or latest < ended else None


def payout_id(merchant_id: str, day: date, attempt: int) -> uuid.UUID:
    return derived_id(f"payout/{merchant_id}/{day.isoformat()}", f"attempt-{attempt}")


def refund_id(order: OrderRef, day: date, attempt: int) -> uuid.UUID:
    return derived_id(f"refund/{order.key}/{day.isoformat()}", f"attempt-{attempt}")


@dataclass(frozen=True)
class Carried:
    subject: str  # merchant id or order key
    amount: int  # what stays on the books (negative: owed to the platform)
    reason: str


@dataclass(frozen=True)
class HeldOrder:
    """An order whose money may not leave the bank yet: what it released to the merchant as of the day (natural
    amounts; zero when only its consumer refunds are held), and why."""

    order: OrderRef
    payable: int = 0
    fee: int = 0
    reason: str = ""


@dataclass(frozen=True)
class SettlementPlan:
    payouts: tuple[PayoutSent, ...] = ()  # post each when its instruction is published (same transaction)
    refunds: tuple[RefundTransferSent, ...] = ()
    carried: tuple[Carried, ...] = ()
    alerts: tuple[Alert, ...] = ()
    held: tuple[Carried, ...] = ()  # per held order (subject: order key): the money kept back, and why


def plan(
    state: LedgerState, day: date, policy: PayoutPolicy = PayoutPolicy(), held: Mapping[str, HeldOrder] = {}
) -> SettlementPlan:
    """The instructions for `day` from the balances in `state` (pass as-of-cut-off balances to exclude later ones),
    keeping back the money of the `held` orders (by order key)."""
    history, carried, alerts, kept = _history(state), list[Carried](), list[Alert](), list[Carried]()

    def due(subject: str, amount: int, what: str) -> int | None:
        """The attempt number if `amount` should go out now; otherwise record why it stays."""
        if amount < 0:
            carried.append(Carried(subject, amount, f"{what} owes the platform: netted or recovered later"))
        elif amount > 0 and _rejected_in_a_row(history[subject]) >= policy.max_rejections:
            carried.append(Carried(subject, amount, "withheld after repeated bank rejections"))
            alerts.append(Alert(AlertKind.TRANSFER_WITHHELD, subject, f"NT${amount} due, transfers keep failing"))
        elif amount > 0:
            return sum(1 for on, _, _ in history[subject] if on == day)
        return None

    payouts = []
    for m in sorted({a.owner for a in state.balances if a.kind in _MERCHANT_KINDS}):
        payable, fee = state.held_in(merchant_payable(m)), state.held_in(merchant_fee_income(m))
        orders = [h for _, h in sorted(held.items()) if h.order.merchant_id == m and (h.payable or h.fee)]
        kept += [Carried(h.order.key, h.payable + h.fee, h.reason) for h in orders]
        owed = payable + fee
        payable, fee = payable - sum(h.payable for h in orders), fee - sum(h.fee for h in orders)
        if owed >= 0 and payable + fee <= 0:
            continue  # everything owed is held back (the notices say why): nothing owed to the platform either
        if (attempt := due(m, payable + fee, "merchant")) is not None:
            i = payout_id(m, day, attempt)
            payouts.append(
                PayoutSent(
                    cause_id=str(i),
                    on=day,
                    instruction_id=i,
                    merchant_id=m,
                    attempt=attempt,
                    payable_part=payable,
                    fee_part=fee,
                )
            )
    refunds = []
    for key, book in sorted(state.orders.items()):
        owed = state.held_in(consumer_refund_payable(book.order))
        if key in held and owed > 0:
            kept.append(Carried(key, owed, held[key].reason))
            continue
        if (attempt := due(key, owed, "consumer")) is not None:
            i = refund_id(book.order, day, attempt)
            refunds.append(
                RefundTransferSent(
                    cause_id=str(i), on=day, instruction_id=i, order=book.order, attempt=attempt, amount=owed
                )
            )
    return SettlementPlan(tuple(payouts), tuple(refunds), tuple(carried), tuple(alerts), tuple(kept))


_MERCHANT_KINDS = frozenset({AccountKind.MERCHANT_PAYABLE, AccountKind.MERCHANT_FEE_INCOME})
_REJECTIONS = (PayoutRejected, RefundTransferRejected)


def _history(state: LedgerState) -> defaultdict[str, list[tuple[date, int, bool]]]:
    """Per subject: (day, attempt, rejected?) of every instruction sent."""
    history: defaultdict[str, list[tuple[date, int, bool]]] = defaultdict(list)
    for book in state.transfers.values():
        sent = book.sent
        if sent is not None:
            subject = sent.merchant_id if isinstance(sent, PayoutSent) else sent.order.key
            history[subject].append((sent.on, sent.attempt, isinstance(book.settled, _REJECTIONS)))
    return history


def _rejected_in_a_row(history: list[tuple[date, int, bool]]) -> int:
    streak = 0
    for _, _, rejected in sorted(history, reverse=True):
        if not rejected:
            break
        streak += 1
    return streak
