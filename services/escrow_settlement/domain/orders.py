"""Posting rules for the two facts that make an order known: its payment and its issuance."""

from __future__ import annotations

from dataclasses import replace

from services.escrow_settlement.domain.accounts import BANK_CASH, escrow_held, suspense
from services.escrow_settlement.domain.facts import OrderIssued, PaymentReceived
from services.escrow_settlement.domain.journal import NOTHING, Effects, EntryKind, make_entry
from services.escrow_settlement.domain.notices import ExceptionKind, LedgerException
from services.escrow_settlement.domain.state import OrderBook, OrderStatus, TicketBook
from shared.contracts.common import TicketType


def on_payment(book: OrderBook, fact: PaymentReceived) -> tuple[OrderBook, Effects]:
    """The paid amount enters escrow for the order (a second payment goes to suspense, as an exception)."""
    order = book.order
    if book.payment is not None:
        moves = [(BANK_CASH, fact.amount), (suspense(order), -fact.amount)]
        memo = "second payment for one order: held in suspense"
        entry = make_entry(
            fact, EntryKind.DUPLICATE_PAYMENT, moves, merchant_id=order.merchant_id, order=order, memo=memo
        )
        paid = book.payment
        detail = f"order already paid NT${paid.amount} by {paid.cause_id}; NT${fact.amount} held in suspense"
        problem = LedgerException(ExceptionKind.DUPLICATE_PAYMENT, fact.cause_id, order.key, detail)
        return replace(book, extra_payments=(*book.extra_payments, fact)), Effects((entry,), (problem,))
    before = book.status
    book = replace(book, payment=fact)
    moves = [(BANK_CASH, fact.amount), (escrow_held(order), -fact.amount)]
    memo = "paid amount enters escrow"
    entry = make_entry(fact, EntryKind.PAYMENT, moves, merchant_id=order.merchant_id, order=order, memo=memo)
    return book, Effects((entry,)) + _mismatch(before, book)


def on_issued(book: OrderBook, fact: OrderIssued) -> tuple[OrderBook, Effects]:
    """Registers the order's pickup vouchers (their money is in escrow once the matching payment is known)."""
    if book.issued is not None:
        detail = f"order already issued by {book.issued.cause_id}; ignored"
        problem = LedgerException(ExceptionKind.DUPLICATE_ISSUANCE, fact.cause_id, book.order.key, detail)
        return book, Effects(exceptions=(problem,))
    before = book.status
    tickets = {t.ticket_no: TicketBook(t.face_value) for t in fact.tickets if t.ticket_type is TicketType.PICKUP}
    book = replace(book, issued=fact, tickets=tickets)
    return book, _mismatch(before, book)


def _mismatch(before: OrderStatus, book: OrderBook) -> Effects:
    """When payment and issuance are both known and disagree: the paid money leaves escrow for suspense.

    The entry is caused by the issuance fact whichever arrived last, so both arrival orders give the same entry.
    """
    issued = book.issued
    if issued is None or before is OrderStatus.MISMATCH or book.status is not OrderStatus.MISMATCH:
        return NOTHING
    order, paid = book.order, book.paid
    moves = [(escrow_held(order), paid), (suspense(order), -paid)]
    memo = "paid amount does not match the issued vouchers"
    entry = make_entry(
        issued, EntryKind.PAYMENT_TO_SUSPENSE, moves, merchant_id=order.merchant_id, order=order, memo=memo
    )
    detail = f"paid NT${paid} but the issued pickup vouchers total NT${issued.pickup_total}; nothing will be released"
    problem = LedgerException(ExceptionKind.PAYMENT_MISMATCH, issued.cause_id, order.key, detail)
    return Effects((entry,), (problem,))
