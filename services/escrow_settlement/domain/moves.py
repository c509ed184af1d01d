"""The money shape of each voucher fact: which accounts its face value moves between."""

from __future__ import annotations

from services.escrow_settlement.domain.accounts import (
    Account,
    OrderRef,
    consumer_refund_payable,
    escrow_held,
    merchant_fee_income,
    merchant_payable,
)
from services.escrow_settlement.domain.facts import RedemptionCancelled, ReturnCancelled, TicketFact, TicketReturned
from services.escrow_settlement.domain.journal import mirror
from services.escrow_settlement.domain.state import TicketBook

Moves = list[tuple[Account, int]]


def release(order: OrderRef, face: int) -> Moves:
    """Write-off within escrow, or escrow expiry: the face value goes from escrow to the merchant."""
    return [(escrow_held(order), face), (merchant_payable(order.merchant_id), -face)]


def refund(order: OrderRef, face: int, fee: int, refund_amount: int) -> Moves:
    """Refund within escrow: the face value leaves escrow; face - fee to the consumer, the fee to the merchant."""
    fee_income = merchant_fee_income(order.merchant_id)
    return [(escrow_held(order), face), (consumer_refund_payable(order), -refund_amount), (fee_income, -fee)]


def moves_of(order: OrderRef, ticket: TicketBook, fact: TicketFact) -> Moves:
    """A cancellation is the exact mirror of what it cancels (for a refund: the fee and amount recorded)."""
    if isinstance(fact, TicketReturned):
        return refund(order, ticket.face, fact.fee, fact.refund_amount)
    if isinstance(fact, ReturnCancelled):
        return mirror(refund(order, ticket.face, ticket.fee, ticket.refund_amount))
    if isinstance(fact, RedemptionCancelled):
        return mirror(release(order, ticket.face))
    return release(order, ticket.face)
