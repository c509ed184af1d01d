"""Daily bank reconciliation (pure): the escrow bank's statement, line by line, against the ledger.

One item per movement of money, keyed like the bank's line id:
- `credit/<TradeNo>`: a payment. Ledger side: the PaymentConfirmed the ledger posted (its amount; the statement day
  it is expected on: the payment's Asia/Taipei date, or the day the ledger learned it if that is earlier, as for a
  sandbox merchant whose test clock runs ahead). Bank side: the bank's credit line (amount, statement day).
- `debit/<instruction id>`: a transfer. Ledger side: the bank's confirmation the ledger posted (expected on the day
  of the answer). Bank side: the debit line.
A second ledger payment under a TradeNo already taken gets an item of its own (`again_key`) that no bank line can
match: the bank received that money once.

Status is a function of the two sides and of the closed statement days, never of the arrival order:

    both sides, same amount                                   matched
    both sides, amounts differ                                amount_differs   (at once)
    bank side only, its statement day closed                  bank_only
    ledger side only, the statement day it is expected on closed  ledger_only
    otherwise                                                 open             (waiting for the other side)

A difference becomes an exception with an alert when it appears; a difference that later matches (a credit booked
on a later day, a payment confirmed late) raises a notice that it cleared. An operator may resolve any item that
is not matched (`cli reconciliation resolve`): a recorded decision, no ledger entry.

Payout gating: money of an order with a ledger payment that is not matched (open or a difference) and not resolved
is held back: the order's releases to the merchant and its consumer refunds, or only its consumer refunds when the
unmatched payment is a duplicate (its money goes back to the consumer, not to the merchant).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from shared.contracts.settlement import AlertSeverity


class Direction(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"


class Status(StrEnum):
    OPEN = "open"
    MATCHED = "matched"
    AMOUNT_DIFFERS = "amount_differs"
    BANK_ONLY = "bank_only"
    LEDGER_ONLY = "ledger_only"


DIFFERENCES = frozenset({Status.AMOUNT_DIFFERS, Status.BANK_ONLY, Status.LEDGER_ONLY})


class ReconciliationKind(StrEnum):
    """Exception and alert kinds of reconciliation, beside the ledger's own (notices.py)."""

    AMOUNT_DIFFERS = "bank_amount_differs"
    BANK_ONLY = "bank_line_without_ledger"
    LEDGER_ONLY = "ledger_without_bank_line"
    CLEARED = "bank_difference_cleared"
    RESOLVED = "bank_difference_resolved"
    PAYOUT_HELD = "payout_held_unmatched"
    STATEMENT_INCOMPLETE = "bank_statement_incomplete"


KIND_OF = {
    Status.AMOUNT_DIFFERS: ReconciliationKind.AMOUNT_DIFFERS,
    Status.BANK_ONLY: ReconciliationKind.BANK_ONLY,
    Status.LEDGER_ONLY: ReconciliationKind.LEDGER_ONLY,
}


@dataclass(frozen=True)
class Side:
    amount: int
    on: date  # bank: the statement day of its line; ledger: the statement day the line is expected on
    cause_id: str  # the event that told us


@dataclass(frozen=True)
class Item:
    key: str  # "credit/<TradeNo>" or "debit/<instruction id>" (or again_key)
    direction: Direction
    merchant_id: str | None = None
    order_key: str | None = None
    ledger: Side | None = None
    bank: Side | None = None
    status: Status = Status.OPEN
    resolved: bool = False

    @property
    def subject(self) -> str:
        """What operations see it about: the order, else the line."""
        return self.order_key or self.key


def again_key(key: str, cause_id: str) -> str:
    """The item of a second ledger payment under a TradeNo already taken (no bank line has this id)."""
    return f"{key}/again/{cause_id}"


def status_of(ledger: Side | None, bank: Side | None, closed: Collection[date]) -> Status:
    if ledger is not None and bank is not None:
        return Status.MATCHED if ledger.amount == bank.amount else Status.AMOUNT_DIFFERS
    if bank is not None and bank.on in closed:
        return Status.BANK_ONLY
    if ledger is not None and ledger.on in closed:
        return Status.LEDGER_ONLY
    return Status.OPEN


@dataclass(frozen=True)
class Notice:
    """An exception (when `exception`) and an alert about one item, or about a statement day."""

    kind: ReconciliationKind
    severity: AlertSeverity
    subject: str
    detail: str
    exception: bool


def reassess(item: Item, closed: Collection[date]) -> tuple[Item, tuple[Notice, ...]]:
    """The item's status now, and what its change raises: a new difference, or a difference that cleared."""
    status = status_of(item.ledger, item.bank, closed)
    if status == item.status:
        return item, ()
    new = replace(item, status=status)
    if status in DIFFERENCES:
        notice = Notice(KIND_OF[status], AlertSeverity.CRITICAL, new.subject, describe(new), exception=True)
        return new, (notice,)
    if item.status in DIFFERENCES:
        detail = f"{item.key}: {item.status} earlier, now matched ({describe(new)})"
        return new, (Notice(ReconciliationKind.CLEARED, AlertSeverity.NOTICE, new.subject, detail, False),)
    return new, ()


def describe(item: Item) -> str:
    ledger = "none" if item.ledger is None else f"NT${item.ledger.amount} (expected on {item.ledger.on})"
    bank = "none" if item.bank is None else f"NT${item.bank.amount} (statement {item.bank.on})"
    what = "payment" if item.direction is Direction.CREDIT else "transfer"
    return f"{item.key}: {item.status} — ledger {what} {ledger}, bank {item.direction} {bank}"


@dataclass(frozen=True)
class Closing:
    """What the bank's closing of a day says, and what settlement received of that day."""

    statement_date: date
    lines: int
    credits_total: int
    debits_total: int


def incomplete(said: Closing, received: Closing) -> Notice | None:
    """An alert when the lines received for a day are not the ones the bank's closing counts."""
    if said == received:
        return None
    detail = (
        f"the bank's statement for {said.statement_date} says {said.lines} line(s), credits NT${said.credits_total},"
        f" debits NT${said.debits_total}; settlement holds {received.lines}, NT${received.credits_total},"
        f" NT${received.debits_total}"
    )
    subject = f"statement/{said.statement_date.isoformat()}"
    return Notice(ReconciliationKind.STATEMENT_INCOMPLETE, AlertSeverity.CRITICAL, subject, detail, exception=False)


class HoldScope(StrEnum):
    ORDER = "order"  # everything the order released to the merchant, and its consumer refunds
    REFUNDS = "refunds"  # its consumer refunds only (the unmatched payment is a duplicate, refunded in full)


@dataclass(frozen=True)
class UnmatchedPayment:
    """A ledger payment (credit item with a ledger side) not matched and not resolved."""

    item_key: str
    order_key: str
    cause_id: str  # the payment's event id: the ledger's fact cause
    status: Status


def holds(unmatched: Iterable[UnmatchedPayment], duplicates: Collection[str]) -> dict[str, tuple[HoldScope, str]]:
    """Per order key: what is held, and why. `duplicates`: causes of payments the ledger holds as duplicates."""
    held: dict[str, tuple[HoldScope, list[str]]] = {}
    for u in sorted(unmatched, key=lambda u: u.item_key):
        scope = HoldScope.REFUNDS if u.cause_id in duplicates else HoldScope.ORDER
        before, reasons = held.get(u.order_key, (HoldScope.REFUNDS, []))
        widest = HoldScope.ORDER if HoldScope.ORDER in (before, scope) else HoldScope.REFUNDS
        held[u.order_key] = (widest, [*reasons, f"{u.item_key} {u.status}"])
    return {key: (scope, "payment not matched by a bank credit: " + ", ".join(r)) for key, (scope, r) in held.items()}
