"""Facts that move no money by their nature: recorded as a CONSIDERED entry (no postings) at once, never parked.

- anything about a gift voucher (§5.0: status only);
- a usage expiry (gift vouchers only);
- a write-off after escrow expiry (the face value went to the merchant at expiry), and its cancellation;
- a refund, or a refund's cancellation, after escrow: §5.0 allows refunds only within escrow, so this also
  raises an exception for the operations team.
"""

from __future__ import annotations

from services.escrow_settlement.domain.facts import (
    EscrowExpired,
    RedemptionCancelled,
    ReturnCancelled,
    TicketFact,
    TicketRedeemed,
    TicketReturned,
    UsageExpired,
)
from services.escrow_settlement.domain.journal import Effects, EntryKind, make_entry
from services.escrow_settlement.domain.notices import ExceptionKind, LedgerException
from shared.contracts.common import TicketType

_AFTER_ESCROW: dict[type[TicketFact], str] = {
    TicketRedeemed: "write-off after escrow: the face value was released to the merchant at escrow expiry",
    RedemptionCancelled: "write-off cancelled after escrow: no money moves",
    TicketReturned: "refund after escrow: not allowed by §5.0, no money moved",
    ReturnCancelled: "refund cancelled after escrow: not allowed by §5.0, no money moved",
}


def considered(fact: TicketFact) -> Effects | None:
    """The CONSIDERED record for a fact that moves no money, or None when the fact is a money fact."""
    if fact.ticket.ticket_type is TicketType.GIFT:
        memo = f"gift voucher {type(fact).__name__}: no money moves"
    elif isinstance(fact, UsageExpired):
        memo = "usage expiry: no money moves"
    elif isinstance(fact, EscrowExpired) or fact.within_escrow:
        return None
    else:
        memo = _AFTER_ESCROW[type(fact)]
    order = fact.order
    ticket_no = fact.ticket.ticket_no
    entry = make_entry(
        fact, EntryKind.CONSIDERED, (), merchant_id=order.merchant_id, order=order, ticket_no=ticket_no, memo=memo
    )
    problems: tuple[LedgerException, ...] = ()
    if fact.ticket.ticket_type is TicketType.PICKUP and isinstance(fact, TicketReturned | ReturnCancelled):
        problems = (LedgerException(ExceptionKind.REFUND_OUTSIDE_ESCROW, fact.cause_id, order.key, memo),)
    return Effects((entry,), problems)
