"""When a ticket's next time-driven transition is due. The shell stores it as `tickets.due_at`.

A ticket has at most one pending expiry: an unused pickup voucher its escrow release (once: `escrow_released`
never resets), an unused gift voucher its usage expiry. Anything not unused has nothing due. The value is
recomputed from the ticket after every decision, so a cancelled write-off puts the ticket back in the schedule.
"""

from __future__ import annotations

from datetime import datetime

from services.redemption.domain.commands import ExpireEscrow, ExpireUsage
from services.redemption.domain.ticket import Ticket
from shared.contracts.common import TicketType, UseStatus


def due_at(ticket: Ticket) -> datetime | None:
    if ticket.status is not UseStatus.UNUSED:
        return None
    if ticket.ticket_type is TicketType.PICKUP:
        return None if ticket.escrow_released else ticket.escrow_ends_at
    return ticket.usage_ends_at


def expiry_of(ticket: Ticket) -> ExpireEscrow | ExpireUsage:
    """The expiry scheduler's command for a due ticket."""
    if ticket.ticket_type is TicketType.PICKUP:
        return ExpireEscrow(ticket.ticket_no)
    return ExpireUsage(ticket.ticket_no)
