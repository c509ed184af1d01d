"""Posting rules for the facts about one voucher: where its face value is, and what moves it.

A pickup voucher's face value is in exactly one place (`Holder`); each money fact is a transition between two
places and posts one entry. A fact whose starting place does not match yet waits (parking.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.escrow_settlement.domain.evolve import evolve
from services.escrow_settlement.domain.facts import (
    EscrowExpired,
    RedemptionCancelled,
    ReturnCancelled,
    TicketFact,
    TicketRedeemed,
    TicketReturned,
)
from services.escrow_settlement.domain.journal import Effects, EntryKind, JournalEntry, make_entry
from services.escrow_settlement.domain.journal import mirror as mirrored
from services.escrow_settlement.domain.moves import Moves, moves_of
from services.escrow_settlement.domain.notices import ExceptionKind, LedgerException
from services.escrow_settlement.domain.state import Holder, OrderBook, OrderStatus, TicketBook


@dataclass(frozen=True)
class Rule:
    needs: Holder
    becomes: Holder
    kind: EntryKind


RULES: dict[type[TicketFact], Rule] = {
    TicketRedeemed: Rule(Holder.ESCROW, Holder.MERCHANT_BY_WRITE_OFF, EntryKind.WRITE_OFF),
    RedemptionCancelled: Rule(Holder.MERCHANT_BY_WRITE_OFF, Holder.ESCROW, EntryKind.WRITE_OFF_REVERSAL),
    TicketReturned: Rule(Holder.ESCROW, Holder.CONSUMER, EntryKind.REFUND),
    ReturnCancelled: Rule(Holder.CONSUMER, Holder.ESCROW, EntryKind.REFUND_REVERSAL),
    EscrowExpired: Rule(Holder.ESCROW, Holder.MERCHANT_BY_EXPIRY, EntryKind.ESCROW_EXPIRY),
}
CANCELS: dict[type[TicketFact], type[TicketFact]] = {
    RedemptionCancelled: TicketRedeemed,
    ReturnCancelled: TicketReturned,
}


@dataclass(frozen=True)
class Applied:
    book: OrderBook
    effects: Effects


@dataclass(frozen=True)
class Waiting:
    reason: str


@dataclass(frozen=True)
class Held:
    problem: LedgerException


def attempt(book: OrderBook, fact: TicketFact) -> Applied | Waiting | Held:
    """Apply one money fact about a voucher, if its order and the voucher are where the fact needs them."""
    if book.status is not OrderStatus.READY:
        return Waiting(f"order is {book.status}")
    ticket = check(book, fact)
    if isinstance(ticket, Held):
        return ticket
    rule = RULES[type(fact)]
    if ticket.holder is not rule.needs:
        return Waiting(f"voucher money is with {ticket.holder}, this fact needs it with {rule.needs}")
    moves = moves_of(book.order, ticket, fact)
    effects = Effects((_entry(book, fact, rule.kind, moves),)) + _differs(ticket, fact)
    fee, amount = (fact.fee, fact.refund_amount) if isinstance(fact, TicketReturned) else (0, 0)
    moved = evolve(ticket, holder=rule.becomes, fee=fee, refund_amount=amount)
    return Applied(book.with_ticket(fact.ticket.ticket_no, moved), effects)


def pair(book: OrderBook, cancel: TicketFact, original: TicketFact) -> Effects:
    """A cancel and the fact it cancels, both waiting: they apply together and leave the voucher where it is.

    The cancel's entry comes first, so no prefix of the journal takes escrow below zero.
    """
    ticket = book.tickets[original.ticket.ticket_no]
    forward = moves_of(book.order, ticket, original)
    if isinstance(original, TicketReturned):
        ticket = evolve(ticket, fee=original.fee, refund_amount=original.refund_amount)
    entries = (
        _entry(book, cancel, RULES[type(cancel)].kind, mirrored(forward)),
        _entry(book, original, RULES[type(original)].kind, forward),
    )
    return Effects(entries) + _differs(ticket, cancel)


def check(book: OrderBook, fact: TicketFact) -> TicketBook | Held:
    """The issued voucher the fact is about, or why the fact can never apply as stated."""
    ticket, subject = book.tickets.get(fact.ticket.ticket_no), book.order.key

    def held(kind: ExceptionKind, detail: str) -> Held:
        return Held(LedgerException(kind, fact.cause_id, subject, f"ticket {fact.ticket.ticket_no}: {detail}"))

    if ticket is None:
        return held(ExceptionKind.UNKNOWN_TICKET, "no such pickup voucher in the issued order")
    if fact.ticket.face_value != ticket.face:
        return held(ExceptionKind.FACE_VALUE_MISMATCH, f"face NT${fact.ticket.face_value}, issued NT${ticket.face}")
    if isinstance(fact, TicketReturned | ReturnCancelled) and (
        min(fact.fee, fact.refund_amount) < 0 or fact.fee + fact.refund_amount != ticket.face
    ):
        return held(ExceptionKind.REFUND_AMOUNTS_INVALID, f"fee {fact.fee} + refund {fact.refund_amount} != face")
    return ticket


def _differs(refunded: TicketBook, fact: TicketFact) -> Effects:
    stated = (fact.fee, fact.refund_amount) if isinstance(fact, ReturnCancelled) else None
    if stated is None or stated == (refunded.fee, refunded.refund_amount):
        return Effects()
    detail = f"reversed the recorded fee {refunded.fee} / refund {refunded.refund_amount}, not the stated ones"
    problem = LedgerException(ExceptionKind.REFUND_CANCEL_AMOUNTS_DIFFER, fact.cause_id, fact.order.key, detail)
    return Effects(exceptions=(problem,))


def _entry(book: OrderBook, fact: TicketFact, kind: EntryKind, moves: Moves) -> JournalEntry:
    order = book.order
    return make_entry(fact, kind, moves, merchant_id=order.merchant_id, order=order, ticket_no=fact.ticket.ticket_no)
