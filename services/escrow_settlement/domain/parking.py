"""Parking: voucher facts wait in their order's book until they can apply, and are retried after every change.

A fact waits while its order is not READY (payment or issuance still unknown, or held in a mismatch) or while the
voucher's money is not where the fact needs it (a cancel before the fact it cancels; a write-off while an earlier
refund of the same voucher is still outstanding). When no single parked fact can apply, a parked cancel and a
parked fact of the kind it cancels, for the same voucher, apply together (they net to nothing). With these two
moves every arrival order of a consistent history ends with all facts applied and the same balances. An order that
failed for good has no vouchers: a voucher fact about it can never apply and is held as an exception.
"""

from __future__ import annotations

from services.escrow_settlement.domain.evolve import evolve
from services.escrow_settlement.domain.facts import TicketFact
from services.escrow_settlement.domain.journal import NOTHING, Effects
from services.escrow_settlement.domain.notices import ExceptionKind, LedgerException
from services.escrow_settlement.domain.state import OrderBook, OrderStatus
from services.escrow_settlement.domain.tickets import CANCELS, Applied, Held, Waiting, attempt, pair


def arrive(book: OrderBook, fact: TicketFact) -> tuple[OrderBook, Effects]:
    """A voucher fact just arrived: applied at once when its order is ready and nothing waits, else parked. The
    same as parking it and draining: a book just drained has nothing that can apply, so the newcomer is the only
    fact `drain` could apply, and alone it pairs with nothing. Most facts apply at once; parking each first cost
    two more copies of its book."""
    if book.parked or book.status is not OrderStatus.READY:
        return evolve(book, parked=(*book.parked, fact)), NOTHING
    result = attempt(book, fact)
    if isinstance(result, Applied):
        return result.book, result.effects
    if isinstance(result, Held):
        return evolve(book, held=(*book.held, fact)), Effects(exceptions=(result.problem,))
    return evolve(book, parked=(fact,)), NOTHING


def drain(book: OrderBook) -> tuple[OrderBook, Effects]:
    """Apply every parked fact that can apply now (in a loop: one application can unblock another)."""
    effects = NOTHING
    while (step := _step(book)) is not None:
        book, more = step
        effects += more
    return book, effects


def pending(book: OrderBook) -> list[tuple[TicketFact, str]]:
    """The facts of an order that are not applied, with the reason, for the operations view."""
    waiting = []
    for fact in book.parked:
        result = attempt(book, fact)
        waiting.append((fact, result.reason if isinstance(result, Waiting) else "retrying"))
    return waiting + [(fact, "held as an exception") for fact in book.held]


def waiting(book: OrderBook) -> bool:
    """Still expecting a fact: payment or issuance unknown, or a parked fact (a mismatch is an exception already)."""
    status = book.status
    return status in (OrderStatus.AWAITING_ISSUANCE, OrderStatus.AWAITING_PAYMENT) or (
        status is OrderStatus.READY and bool(book.parked)
    )


def waiting_reasons(book: OrderBook) -> str:
    """Why an order still waits, in words, for the exception raised when it has waited too long."""
    waits = [f"{type(fact).__name__} {fact.cause_id}: {why}" for fact, why in pending(book)]
    if book.payment is not None and book.status is OrderStatus.AWAITING_ISSUANCE:
        # Not stranded yet: issuance fails a paid order no Issue request claims in time, and it is refunded then.
        waits.insert(0, f"paid NT${book.paid}: refunded in full if no Issue request claims it in time")
    return f"order is {book.status}" + ("; " + "; ".join(waits) if waits else "")


def _step(book: OrderBook) -> tuple[OrderBook, Effects] | None:
    if book.status is OrderStatus.FAILED and book.parked:
        return _hold_all(book)
    if book.status is not OrderStatus.READY or not book.parked:
        return None
    for fact in book.parked:
        result = attempt(book, fact)
        if isinstance(result, Applied):
            return _without(result.book, fact), result.effects
        if isinstance(result, Held):
            held = evolve(_without(book, fact), held=(*book.held, fact))
            return held, Effects(exceptions=(result.problem,))
    return _pair(book)


def _hold_all(book: OrderBook) -> tuple[OrderBook, Effects]:
    """Every parked voucher fact of an order that failed for good: no voucher of it exists, none can ever apply."""
    failed = book.failed
    reason = f"order failed for good by {failed.cause_id if failed else '?'}: it has no vouchers"
    problems = tuple(
        LedgerException(
            ExceptionKind.VOUCHER_OF_FAILED_ORDER, f.cause_id, book.order.key, f"ticket {f.ticket.ticket_no}: {reason}"
        )
        for f in book.parked
    )
    return evolve(book, parked=(), held=(*book.held, *book.parked)), Effects(exceptions=problems)


def _pair(book: OrderBook) -> tuple[OrderBook, Effects] | None:
    for cancel in book.parked:
        wanted = CANCELS.get(type(cancel))
        for original in book.parked:
            if type(original) is wanted and original.ticket.ticket_no == cancel.ticket.ticket_no:
                return _without(_without(book, cancel), original), pair(book, cancel, original)
    return None


def _without(book: OrderBook, fact: TicketFact) -> OrderBook:
    parked = list(book.parked)
    parked.remove(fact)
    return evolve(book, parked=tuple(parked))
