"""Posting rules for the facts that decide an order: its payments, its issuance, or its failure for good.

Every payment ends as tickets or as a full refund: a payment of an issued order is the vouchers' money; a payment
of an order that failed for good (it will never be issued) and every duplicate payment go back to the consumer
whole, no fee (the consumer got nothing), through the consumer's refund payable, which the payout run instructs.
"""

from __future__ import annotations

from services.escrow_settlement.domain.accounts import BANK_CASH, consumer_refund_payable, escrow_held, suspense
from services.escrow_settlement.domain.evolve import evolve
from services.escrow_settlement.domain.facts import OrderFailed, OrderIssued, PaymentReceived
from services.escrow_settlement.domain.journal import NOTHING, Effects, EntryKind, make_entry
from services.escrow_settlement.domain.notices import ExceptionKind, LedgerException
from services.escrow_settlement.domain.state import OrderBook, OrderStatus, TicketBook
from shared.contracts.common import TicketType


def on_payment(book: OrderBook, fact: PaymentReceived) -> tuple[OrderBook, Effects]:
    """The paid amount enters escrow for the order; a duplicate goes through suspense back to the consumer."""
    if fact.duplicate_of is not None or book.payment is not None:
        return _duplicate(book, fact)
    before = book.status
    book = evolve(book, payment=fact)
    order = book.order
    moves = [(BANK_CASH, fact.amount), (escrow_held(order), -fact.amount)]
    memo = "paid amount enters escrow"
    entry = make_entry(fact, EntryKind.PAYMENT, moves, merchant_id=order.merchant_id, order=order, memo=memo)
    return book, Effects((entry,)) + _mismatch(before, book) + _failed_refund(book)


def on_issued(book: OrderBook, fact: OrderIssued) -> tuple[OrderBook, Effects]:
    """Registers the order's pickup vouchers (their money is in escrow once the matching payment is known)."""
    if book.issued is not None:
        detail = f"order already issued by {book.issued.cause_id}; ignored"
        problem = LedgerException(ExceptionKind.DUPLICATE_ISSUANCE, fact.cause_id, book.order.key, detail)
        return book, Effects(exceptions=(problem,))
    if book.failed is not None:
        return book, _conflict(book, fact, f"order failed for good by {book.failed.cause_id}; issuance ignored")
    before = book.status
    tickets = {t.ticket_no: TicketBook(t.face_value) for t in fact.tickets if t.ticket_type is TicketType.PICKUP}
    book = evolve(book, issued=fact, tickets=tickets)
    return book, _mismatch(before, book)


def on_failed(book: OrderBook, fact: OrderFailed) -> tuple[OrderBook, Effects]:
    """The order will never be issued: its payment (now, or when it arrives) is refunded in full."""
    if book.failed is not None:
        return book, NOTHING  # a second final failure of one order changes nothing
    if book.issued is not None:
        return book, _conflict(book, fact, f"order issued by {book.issued.cause_id}; failure ignored")
    book = evolve(book, failed=fact)
    return book, _failed_refund(book)


def _duplicate(book: OrderBook, fact: PaymentReceived) -> tuple[OrderBook, Effects]:
    """A second payment for one order: into suspense (raised for the record), and on to the consumer in full.

    Both entries are caused by the duplicate itself, so they do not depend on what else has arrived."""
    order, amount, merchant = book.order, fact.amount, book.order.merchant_id
    received = make_entry(
        fact,
        EntryKind.DUPLICATE_PAYMENT,
        [(BANK_CASH, amount), (suspense(order), -amount)],
        merchant_id=merchant,
        order=order,
        memo="second payment for one order: held in suspense",
    )
    refund = make_entry(
        fact,
        EntryKind.DUPLICATE_REFUND,
        [(suspense(order), amount), (consumer_refund_payable(order), -amount)],
        merchant_id=merchant,
        order=order,
        memo="second payment for one order: refunded in full to the consumer",
    )
    stands = (
        f"the payment that stands is {fact.duplicate_of}"
        if fact.duplicate_of is not None
        else f"order already paid NT${book.paid} by {book.payment.cause_id if book.payment else '?'}"
    )
    detail = f"{stands}; NT${amount} refunded in full to the consumer"
    problem = LedgerException(ExceptionKind.DUPLICATE_PAYMENT, fact.cause_id, order.key, detail)
    return evolve(book, extra_payments=(*book.extra_payments, fact)), Effects((received, refund), (problem,))


def _failed_refund(book: OrderBook) -> Effects:
    """Once an order failed for good and its payment is known: the payment, escrow -> the consumer, in full.

    Whichever of the two arrives last posts it, and the entry is the same either way: caused by the failure, dated
    on the later of the two business days (the money is never refunded before it arrived)."""
    failed, payment = book.failed, book.payment
    if failed is None or payment is None:
        return NOTHING
    order = book.order
    moves = [(escrow_held(order), payment.amount), (consumer_refund_payable(order), -payment.amount)]
    entry = make_entry(
        failed,
        EntryKind.FAILED_ORDER_REFUND,
        moves,
        merchant_id=order.merchant_id,
        order=order,
        memo=f"order failed for good ({failed.reason}): payment refunded in full",
        on=max(failed.on, payment.on),
    )
    return Effects((entry,))


def _conflict(book: OrderBook, fact: OrderIssued | OrderFailed, detail: str) -> Effects:
    """Issued and failed for good: the upstream never says both; the first one stands, the other is raised."""
    problem = LedgerException(ExceptionKind.CONFLICTING_OUTCOME, fact.cause_id, book.order.key, detail)
    return Effects(exceptions=(problem,))


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
