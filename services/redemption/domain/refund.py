"""Refund (a returned ticket) and cancel-refund on a ticket of the requesting merchant."""

from __future__ import annotations

from datetime import datetime, time

from services.redemption.domain.commands import Refund
from services.redemption.domain.decision import Transition
from services.redemption.domain.facts import rejected, ticket_facts
from services.redemption.domain.ticket import Ticket
from services.redemption.domain.windows import cancel_window_open, cancel_window_reason
from services.redemption.domain.write_off import REFUSAL_BY_STATUS
from shared.clock import MIDNIGHT
from shared.contracts.common import TicketType, UseStatus
from shared.contracts.redemption import RefundCancelled, TicketRefunded
from shared.contracts.rtncodes import RtnCode

# A written-off ticket must have its write-off cancelled first: say so rather than "already written off".
_REFUND_REFUSAL_BY_STATUS = {**REFUSAL_BY_STATUS, UseStatus.WRITTEN_OFF: RtnCode.REFUND_OF_WRITTEN_OFF}


def refund(ticket: Ticket, command: Refund, now: datetime) -> Transition:
    """Pickup: only unused and within escrow; the merchant keeps the fee (≤ face value), the consumer gets the rest.
    Gift: status only. StartDate does not matter: a consumer may return a ticket before it becomes usable."""
    code = _REFUND_REFUSAL_BY_STATUS.get(ticket.status)
    if code is None and ticket.ticket_type is TicketType.PICKUP and not ticket.within_escrow(now):
        code = RtnCode.REFUND_AFTER_ESCROW
    if code is not None:
        return ticket, (rejected(command, code, now, ticket_trade_no=ticket.ticket_trade_no),)
    event = TicketRefunded(
        **ticket_facts(ticket, now, command.request_id),
        fee=ticket.refund_fee(),
        refund_amount=ticket.refund_amount(),
        operator=command.operator,
    )
    return ticket.with_state(status=UseStatus.REFUNDED, refunded_at=now), (event,)


def cancel_refund(ticket: Ticket, command: Refund, now: datetime, cutoff: time = MIDNIGHT) -> Transition:
    """Undo a refund on its own business day, before its money is paid out (windows.py)."""
    done_at = ticket.refunded_at
    if ticket.status is not UseStatus.REFUNDED or done_at is None or not cancel_window_open(done_at, now, cutoff):
        reason = cancel_window_reason("refund", done_at, cutoff)
        refusal = rejected(
            command, RtnCode.REFUND_CANCEL_NOT_ALLOWED, now, ticket_trade_no=ticket.ticket_trade_no, reason=reason
        )
        return ticket, (refusal,)
    event = RefundCancelled(
        **ticket_facts(ticket, now, command.request_id),
        refunded_at=done_at,
        fee=ticket.refund_fee(),
        refund_amount=ticket.refund_amount(),
        operator=command.operator,
    )
    return ticket.with_state(status=UseStatus.UNUSED, refunded_at=None), (event,)
