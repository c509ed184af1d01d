"""Pure invariant checks. Each returns every violation found (an empty list means the ledger is sound); the shell
stops the affected processing and raises an alert on any violation, it never papers over one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.escrow_settlement.domain.accounts import (
    Account,
    AccountKind,
    OrderRef,
    consumer_in_transit,
    consumer_refund_payable,
    escrow_held,
    merchant_in_transit,
    suspense,
)
from services.escrow_settlement.domain.facts import PayoutSent, RefundTransferConfirmed
from services.escrow_settlement.domain.journal import RELEASES, REVERSALS, EntryKind, JournalEntry
from services.escrow_settlement.domain.state import Holder, LedgerState, OrderBook, OrderStatus


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str
    detail: str


def check_entries(entries: Iterable[JournalEntry]) -> list[Violation]:
    """Every entry sums to zero; no voucher's face value is released (to merchant or consumer) twice."""
    entries = list(entries)
    found = [
        Violation("entry_balances", str(e.entry_id), f"postings sum to {e.total}") for e in entries if e.total != 0
    ]
    for (order, ticket), count in sorted(_net_releases(entries).items()):
        if count not in (0, 1):
            found.append(Violation("released_once", f"{order}#{ticket}", f"released {count} times net"))
    return found


def check_state(state: LedgerState) -> list[Violation]:
    """Accounts sum to zero; per order escrow is never negative, paid = released + refunded + fees + held, and every
    payment is tickets or on its way back to the consumer in full."""
    found = []
    if (total := sum(state.balances.values())) != 0:
        found.append(Violation("accounts_sum_to_zero", "ledger", f"balances sum to {total}"))
    found += _escrow_not_negative(state.balances)
    confirmed = _refunds_confirmed(state)
    for book in state.orders.values():
        found += _check_order(state, book)
        found += _check_owed_back(state, book, confirmed[book.order])
    return found + _check_in_transit(state)


def check_order(book: OrderBook, balances: Mapping[Account, int]) -> list[Violation]:
    """`check_state`'s rules that need nothing but the order's own book and accounts (escrow held, suspense): what
    a batch checks of every order it touched, without the global rules it would compute only to drop them."""
    return _escrow_not_negative(balances) + _check_order(
        LedgerState(orders={book.order.key: book}, balances=balances), book
    )


def _escrow_not_negative(balances: Mapping[Account, int]) -> list[Violation]:
    return [
        Violation("escrow_not_negative", account.owner, f"escrow held is NT${-raw}")
        for account, raw in sorted(balances.items())
        if account.kind is AccountKind.ESCROW_HELD and raw > 0
    ]


def check_ledger(state: LedgerState, journal: Iterable[JournalEntry]) -> list[Violation]:
    """Everything, plus: the balances are exactly the sum of the journal, and each voucher's place agrees with it."""
    entries = list(journal)
    found = check_entries(entries) + check_state(state)
    summed = Counter[Account]()
    for e in entries:
        for p in e.postings:
            summed[p.account] += p.amount
    for account in sorted(set(summed) | set(state.balances)):
        if summed[account] != state.balances.get(account, 0):
            found.append(Violation("balances_match_journal", str(account), f"journal {summed[account]}"))
    net = _net_releases(entries)
    for book in state.orders.values():
        for no, t in sorted(book.tickets.items()):
            if net[(book.order.key, no)] != (t.holder is not Holder.ESCROW):
                found.append(Violation("vouchers_match_journal", f"{book.order.key}#{no}", f"money with {t.holder}"))
    whole = _refunded_in_full(entries)
    for book in state.orders.values():
        if whole[book.order.key] != book.refunded_in_full:
            detail = f"journal refunded NT${whole[book.order.key]} in full, the book says NT${book.refunded_in_full}"
            found.append(Violation("refunds_match_journal", book.order.key, detail))
    return found


def unresolved_payments(
    books: Mapping[str, OrderBook], waiting_since: Mapping[str, datetime], now: datetime, after: timedelta
) -> list[Violation]:
    """Orders holding a payment that is neither tickets nor refunded `after` since they started waiting: issuance
    issues or fails every paid order within its unclaimed-payment wait, so an older one is money stranded."""
    found = []
    for key, since in sorted(waiting_since.items()):
        book = books.get(key)
        if book is None or book.payment is None or book.status is not OrderStatus.AWAITING_ISSUANCE:
            continue
        if now - since > after:
            detail = f"NT${book.paid} paid, neither issued nor failed since {since.isoformat()} (allowed: {after})"
            found.append(Violation("payment_unresolved", key, detail))
    return found


def _net_releases(entries: Iterable[JournalEntry]) -> Counter[tuple[str, str]]:
    """Per (order, voucher): entries that moved its face value out of escrow minus those that moved it back."""
    net = Counter[tuple[str, str]]()
    for e in entries:
        if e.order is not None and e.ticket_no is not None:
            net[(e.order.key, e.ticket_no)] += (e.kind in RELEASES) - (e.kind in REVERSALS)
    return net


def _refunded_in_full(entries: Iterable[JournalEntry]) -> Counter[str]:
    """Per order: what the journal moved to the consumer's refund payable as whole payments (failure, duplicates)."""
    whole = Counter[str]()
    for e in entries:
        if e.order is not None and e.kind in _IN_FULL:
            refund = consumer_refund_payable(e.order)
            whole[e.order.key] -= sum(p.amount for p in e.postings if p.account == refund)
    return whole


_IN_FULL = frozenset({EntryKind.FAILED_ORDER_REFUND, EntryKind.DUPLICATE_REFUND})


def _refunds_confirmed(state: LedgerState) -> Counter[OrderRef]:
    """Per order: the consumer refunds the bank confirmed (they left the ledger's accounts)."""
    confirmed = Counter[OrderRef]()
    for book in state.transfers.values():
        if isinstance(book.settled, RefundTransferConfirmed) and book.sent is not None:
            confirmed[book.settled.order] += book.sent.amount
    return confirmed


def _check_owed_back(state: LedgerState, book: OrderBook, confirmed: int) -> list[Violation]:
    """Every payment is tickets or refunded: what the consumer is owed back (a failed order's payment and duplicates
    in full, voucher refunds) is exactly in its refund payable, on its way to the bank, or confirmed paid."""
    order = book.order
    payable, moving = state.held_in(consumer_refund_payable(order)), state.held_in(consumer_in_transit(order))
    if payable + moving + confirmed == book.owed_back:
        return []
    detail = (
        f"refund payable {payable} + in transit {moving} + confirmed {confirmed} != owed back {book.owed_back}"
        f" (payments refunded in full {book.refunded_in_full})"
    )
    return [Violation("payment_tickets_or_refunded", order.key, detail)]


def _check_order(state: LedgerState, book: OrderBook) -> list[Violation]:
    key, status, found = book.order.key, book.status, []
    escrow, parked = state.held_in(escrow_held(book.order)), state.held_in(suspense(book.order))
    tickets = book.tickets.values()
    held = sum(t.face for t in tickets if t.holder is Holder.ESCROW)
    released = sum(t.face for t in tickets if t.holder in (Holder.MERCHANT_BY_WRITE_OFF, Holder.MERCHANT_BY_EXPIRY))
    refunded = sum(t.refund_amount for t in tickets)
    fees = sum(t.fee for t in tickets)
    if status is OrderStatus.READY:
        if book.paid != released + refunded + fees + held:
            detail = f"paid {book.paid} != released {released} + refunded {refunded} + fees {fees} + held {held}"
            found.append(Violation("money_conserved", key, detail))
        expected_escrow, expected_suspense = held, 0  # duplicates went on to the consumer
    elif status is OrderStatus.MISMATCH:
        expected_escrow, expected_suspense = 0, book.paid
    elif status is OrderStatus.FAILED:
        expected_escrow, expected_suspense = 0, 0  # its payment went back to the consumer
    else:
        expected_escrow, expected_suspense = book.paid, 0
        if held != sum(t.face for t in tickets):
            found.append(Violation("money_conserved", key, "voucher money moved before the order was ready"))
    if escrow != expected_escrow:
        found.append(Violation("escrow_matches_vouchers", key, f"escrow {escrow}, vouchers say {expected_escrow}"))
    if parked != expected_suspense:
        found.append(Violation("suspense_matches_exceptions", key, f"suspense {parked}, expected {expected_suspense}"))
    for no, t in sorted(book.tickets.items()):
        split_ok = t.fee + t.refund_amount == t.face if t.holder is Holder.CONSUMER else t.fee == t.refund_amount == 0
        if not split_ok:
            found.append(Violation("refund_split", f"{key}#{no}", f"fee {t.fee} + refund {t.refund_amount}"))
    return found


def _check_in_transit(state: LedgerState) -> list[Violation]:
    """In-transit accounts hold exactly the instructions sent and not yet confirmed or rejected."""
    expected = Counter[Account]()
    for book in state.transfers.values():
        sent = book.sent
        if sent is not None and book.settled is None:
            account = (
                merchant_in_transit(sent.merchant_id)
                if isinstance(sent, PayoutSent)
                else consumer_in_transit(sent.order)
            )
            expected[account] += sent.amount
    kinds = (AccountKind.MERCHANT_PAYOUT_IN_TRANSIT, AccountKind.CONSUMER_REFUND_IN_TRANSIT)
    actual = {a: state.held_in(a) for a in state.balances if a.kind in kinds}
    return [
        Violation("in_transit_matches_instructions", str(a), f"balance {actual.get(a, 0)}, instructions {expected[a]}")
        for a in sorted(set(expected) | set(actual))
        if actual.get(a, 0) != expected[a]
    ]
