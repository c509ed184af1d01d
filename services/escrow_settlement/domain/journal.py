"""Journal entries, and the effects of one step: entries plus the exceptions and alerts raised beside them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.escrow_settlement.domain.accounts import Account, OrderRef
from services.escrow_settlement.domain.facts import FactBase
from services.escrow_settlement.domain.notices import Alert, LedgerException
from shared.ids import derived_id


class EntryKind(StrEnum):
    PAYMENT = "payment"  # bank cash / escrow held
    PAYMENT_TO_SUSPENSE = "payment_to_suspense"  # paid amount != issued face values: escrow -> suspense
    DUPLICATE_PAYMENT = "duplicate_payment"  # a second payment for one order: bank cash / suspense
    DUPLICATE_REFUND = "duplicate_refund"  # that payment in full: suspense -> consumer refund payable
    FAILED_ORDER_REFUND = "failed_order_refund"  # an order failed for good: its payment, escrow -> consumer refund
    WRITE_OFF = "write_off"  # escrow -> merchant payable
    WRITE_OFF_REVERSAL = "write_off_reversal"
    REFUND = "refund"  # escrow -> consumer refund payable + merchant fee income
    REFUND_REVERSAL = "refund_reversal"
    ESCROW_EXPIRY = "escrow_expiry"  # escrow -> merchant payable
    CONSIDERED = "considered"  # no money moves; recorded so an auditor sees the fact was considered
    PAYOUT_SENT = "payout_sent"  # merchant payable + fee income -> payout in transit
    PAYOUT_CONFIRMED = "payout_confirmed"  # in transit -> out of bank cash
    PAYOUT_RETURNED = "payout_returned"  # rejected: in transit -> back to payable + fee income
    REFUND_SENT = "refund_sent"
    REFUND_CONFIRMED = "refund_confirmed"
    REFUND_RETURNED = "refund_returned"


RELEASES = frozenset({EntryKind.WRITE_OFF, EntryKind.REFUND, EntryKind.ESCROW_EXPIRY})
REVERSALS = frozenset({EntryKind.WRITE_OFF_REVERSAL, EntryKind.REFUND_REVERSAL})


@dataclass(frozen=True)
class Posting:
    account: Account
    amount: int  # debit positive, credit negative


@dataclass(frozen=True)
class JournalEntry:
    entry_id: uuid.UUID  # uuid5 of the cause id and the kind: a replay produces the same id
    cause_id: str
    on: date
    kind: EntryKind
    postings: tuple[Posting, ...]
    merchant_id: str
    order: OrderRef | None = None
    ticket_no: str | None = None
    memo: str = ""

    @property
    def total(self) -> int:
        return sum(p.amount for p in self.postings)


def entry_id(cause_id: str, kind: EntryKind) -> uuid.UUID:
    return derived_id(cause_id, f"ledger/{kind}")


def make_entry(
    fact: FactBase,
    kind: EntryKind,
    postings: Iterable[tuple[Account, int]],
    *,
    merchant_id: str,
    order: OrderRef | None = None,
    ticket_no: str | None = None,
    memo: str = "",
    on: date | None = None,
) -> JournalEntry:
    """An entry caused by `fact`, dated on its business day unless `on` says otherwise (an entry that needs two
    facts takes the later day); zero-amount postings are dropped (a CONSIDERED entry has none)."""
    kept = tuple(Posting(account, amount) for account, amount in postings if amount != 0)
    day = fact.on if on is None else on
    return JournalEntry(
        entry_id(fact.cause_id, kind), fact.cause_id, day, kind, kept, merchant_id, order, ticket_no, memo
    )


def mirror(postings: Iterable[tuple[Account, int]]) -> list[tuple[Account, int]]:
    """The exact reversal of some postings."""
    return [(account, -amount) for account, amount in postings]


@dataclass(frozen=True)
class Effects:
    """What one step produced besides the new state."""

    entries: tuple[JournalEntry, ...] = ()
    exceptions: tuple[LedgerException, ...] = ()
    alerts: tuple[Alert, ...] = ()

    def __add__(self, other: Effects) -> Effects:
        return Effects(self.entries + other.entries, self.exceptions + other.exceptions, self.alerts + other.alerts)


NOTHING = Effects()
