"""Time-driven transitions: escrow expiry of pickup vouchers and usage expiry of gift vouchers.

Both are facts of time, not of the scheduler: `decide` applies them before every request too, so a request that
arrives before the (possibly late) scheduler sees the same state, and the escrow money is released exactly once
whichever comes first. The scheduler's own commands are then idempotent no-ops.

- Escrow expiry: an UNUSED pickup voucher whose escrow period has ended (at the end of its last Asia/Taipei day)
  emits `TicketExpired(kind=escrow)` once; its status stays 1 (§5.0: it stays redeemable, a later write-off moves
  no money). Written-off or refunded vouchers already had their money moved, so nothing happens.
- Usage expiry: an UNUSED gift voucher after the end of its ExpireDate goes to status 4 (`kind=usage`).
- Status 4 is never used for pickup vouchers: §5.0 forbids limiting their use, so they cannot expire for the
  consumer; their ExpireDate (if any) is ignored.
"""

from __future__ import annotations

from datetime import datetime

from services.redemption.domain.decision import Transition
from services.redemption.domain.facts import ticket_facts
from services.redemption.domain.ticket import Ticket
from shared.contracts.common import TicketType, UseStatus
from shared.contracts.redemption import ExpiryKind, TicketExpired


def expire_escrow(ticket: Ticket, now: datetime) -> Transition:
    ends = ticket.escrow_ends_at
    due = ends is not None and now >= ends
    eligible = ticket.ticket_type is TicketType.PICKUP and ticket.status is UseStatus.UNUSED
    if not (due and eligible) or ticket.escrow_released:
        return ticket, ()
    event = TicketExpired(**ticket_facts(ticket, now, None), kind=ExpiryKind.ESCROW)
    return ticket.with_state(escrow_released=True), (event,)


def expire_usage(ticket: Ticket, now: datetime) -> Transition:
    ends = ticket.usage_ends_at  # None for pickup vouchers
    if ends is None or now < ends or ticket.status is not UseStatus.UNUSED:
        return ticket, ()
    event = TicketExpired(**ticket_facts(ticket, now, None), kind=ExpiryKind.USAGE)
    return ticket.with_state(status=UseStatus.EXPIRED), (event,)


def catch_up(ticket: Ticket, now: datetime) -> Transition:
    """Every expiry that is due at `now` and not applied yet."""
    ticket, escrow_events = expire_escrow(ticket, now)
    ticket, usage_events = expire_usage(ticket, now)
    return ticket, escrow_events + usage_events
