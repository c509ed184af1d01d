"""WriteOff Action 1 (redeem) and Action 2 (cancel the redemption) on a ticket of the requesting merchant."""

from __future__ import annotations

from datetime import datetime, time

from services.redemption.domain.commands import WriteOff
from services.redemption.domain.decision import Transition
from services.redemption.domain.facts import rejected, ticket_facts
from services.redemption.domain.ticket import Ticket
from services.redemption.domain.windows import cancel_window_open, cancel_window_reason
from shared.clock import MIDNIGHT, business_date
from shared.contracts.common import UseStatus
from shared.contracts.redemption import TicketWrittenOff, WriteOffCancelled
from shared.contracts.rtncodes import RtnCode

# Why a ticket that is not unused cannot be written off (or refunded: refund.py reuses it).
REFUSAL_BY_STATUS = {
    UseStatus.WRITTEN_OFF: RtnCode.TICKET_ALREADY_WRITTEN_OFF,
    UseStatus.REFUNDED: RtnCode.TICKET_ALREADY_REFUNDED,
    UseStatus.EXPIRED: RtnCode.TICKET_EXPIRED,
}


def write_off(ticket: Ticket, command: WriteOff, now: datetime) -> Transition:
    """Redeem an unused ticket from its StartDate on. Usage expiry was caught up before (gift -> status 4), and a
    pickup voucher after escrow is still redeemable: the event says within_escrow=False, so no money moves."""
    code = REFUSAL_BY_STATUS.get(ticket.status)
    if code is None and ticket.start_date is not None and business_date(now) < ticket.start_date:
        code = RtnCode.TICKET_NOT_YET_VALID
    if code is not None:
        return ticket, (rejected(command, code, now, ticket_trade_no=ticket.ticket_trade_no),)
    event = TicketWrittenOff(
        **ticket_facts(ticket, now, command.request_id), store_id=command.store_id, operator=command.operator
    )
    return ticket.with_state(status=UseStatus.WRITTEN_OFF, written_off_at=now), (event,)


def cancel_write_off(ticket: Ticket, command: WriteOff, now: datetime, cutoff: time = MIDNIGHT) -> Transition:
    """Undo a write-off on its own business day (windows.py); the ticket is unused again."""
    done_at = ticket.written_off_at
    if ticket.status is not UseStatus.WRITTEN_OFF or done_at is None or not cancel_window_open(done_at, now, cutoff):
        reason = cancel_window_reason("write-off", done_at, cutoff)
        refusal = rejected(
            command, RtnCode.WRITE_OFF_CANCEL_NOT_ALLOWED, now, ticket_trade_no=ticket.ticket_trade_no, reason=reason
        )
        return ticket, (refusal,)
    event = WriteOffCancelled(
        **ticket_facts(ticket, now, command.request_id),
        written_off_at=done_at,
        operator=command.operator,
        cancel_reason=command.cancel_reason,
    )
    return ticket.with_state(status=UseStatus.UNUSED, written_off_at=None), (event,)
