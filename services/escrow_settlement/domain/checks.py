"""Invariant checks on the slice of the ledger one batch touched (pure).

The core's `check_state` runs on a state holding only the affected order books (or transfer books) and their own
accounts; its global rule "all accounts sum to zero" is meaningless on a slice and is left to the full check
(`cli check`, which runs `check_ledger` on everything), and so is "every payment is tickets or refunded", which
counts the refunds the bank confirmed (a slice holds only the transfers still in flight). Two more checks need the stored journal, which the shell
summarises per voucher: each voucher's place in its book must agree with the journal's net releases (so nothing
is released twice), and every new entry must sum to zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from services.escrow_settlement.domain.accounts import Account, AccountKind
from services.escrow_settlement.domain.invariants import Violation, check_order, check_state
from services.escrow_settlement.domain.journal import RELEASES, REVERSALS, JournalEntry
from services.escrow_settlement.domain.state import Holder, LedgerState, OrderBook, TransferBook

GLOBAL_ONLY = frozenset({"accounts_sum_to_zero", "payment_tickets_or_refunded"})
ORDER_KINDS = frozenset({AccountKind.ESCROW_HELD, AccountKind.SUSPENSE})
IN_TRANSIT_KINDS = frozenset({AccountKind.MERCHANT_PAYOUT_IN_TRANSIT, AccountKind.CONSUMER_REFUND_IN_TRANSIT})

Releases = Counter[tuple[str, str]]  # (order key, ticket no) -> releases minus reversals in the journal


def net_releases(entries: Iterable[JournalEntry]) -> Releases:
    net: Releases = Counter()
    for e in entries:
        if e.order is not None and e.ticket_no is not None:
            net[(e.order.key, e.ticket_no)] += (e.kind in RELEASES) - (e.kind in REVERSALS)
    return net


def order_violations(book: OrderBook, balances: Mapping[Account, int], journal: Releases) -> list[Violation]:
    """The core's per-order rules on this order alone, and its vouchers against the journal."""
    key = book.order.key
    own = {a: v for a, v in balances.items() if a.owner == key and a.kind in ORDER_KINDS}
    found = check_order(book, own)  # check_state on this slice, less its global rules (GLOBAL_ONLY)
    for no, ticket in sorted(book.tickets.items()):
        released = journal[(key, no)]
        if released != (ticket.holder is not Holder.ESCROW):
            detail = f"journal releases {released} net, the book has the money with {ticket.holder}"
            found.append(Violation("vouchers_match_journal", f"{key}#{no}", detail))
    return found


def transfer_violations(
    subject: str, books: Iterable[TransferBook], balances: Mapping[Account, int]
) -> list[Violation]:
    """In transit for `subject` = its instructions sent and not yet answered (`books` must hold all of them)."""
    own = {a: v for a, v in balances.items() if a.owner == subject and a.kind in IN_TRANSIT_KINDS}
    transfers = {b.sent.instruction_id: b for b in books if b.sent is not None}
    state = LedgerState(transfers=transfers, balances=own)
    return [v for v in check_state(state) if v.rule not in GLOBAL_ONLY]


def unbalanced(entries: Iterable[JournalEntry]) -> list[tuple[JournalEntry, Violation]]:
    return [(e, Violation("entry_balances", str(e.entry_id), f"postings sum to {e.total}")) for e in entries if e.total]
