"""`decide`: the whole redemption state machine as one pure function (no I/O, no clock: `now` is an argument).

Order of checks for a merchant request: the ticket must exist and match every identifier given
(TICKET_NOT_FOUND), belong to the requesting MerchantID (TICKET_OF_OTHER_MERCHANT; the gateway has already
authorised a PlatformID to act for that merchant, so only merchant ids are compared, and a POS platform may redeem
a ticket another platform issued); then due expiries are caught up (expiry.py), then the operation's own rules.

Transition table (pickup P, gift G; "in escrow" = before the end of the escrow's last Asia/Taipei day;
"same day" = before the next day boundary after the write-off / refund, windows.py):

| status        | WriteOff 1               | WriteOff 2 (cancel)       | Refund                     | Refund (cancel)           |
|---------------|--------------------------|---------------------------|----------------------------|---------------------------|
| 1 unused      | -> 2 TicketWrittenOff ¹  | 3006 CANCEL_NOT_ALLOWED   | -> 3 TicketRefunded ²      | 3009 CANCEL_NOT_ALLOWED   |
| 2 written off | 3002 ALREADY_WRITTEN_OFF | same day: -> 1, else 3006 | 3008 REFUND_OF_WRITTEN_OFF | 3009 CANCEL_NOT_ALLOWED   |
| 3 refunded    | 3003 ALREADY_REFUNDED    | 3006 CANCEL_NOT_ALLOWED   | 3003 ALREADY_REFUNDED      | same day: -> 1, else 3009 |
| 4 expired (G) | 3004 TICKET_EXPIRED      | 3006 CANCEL_NOT_ALLOWED   | 3004 TICKET_EXPIRED        | 3009 CANCEL_NOT_ALLOWED   |

¹ before StartDate (Taipei date): 3005 NOT_YET_VALID. P after escrow: allowed, within_escrow=False (no money);
  if the scheduler has not released the escrow yet, TicketExpired(escrow) is emitted first (catch-up).
² P after escrow: 3007 REFUND_AFTER_ESCROW. Fee = refund_fee_rule.fee_for(face) ≤ face; G: fee 0, amount 0.
ExpireEscrow: 1 unused P, due, not yet released -> TicketExpired(escrow), status stays 1; anything else: no-op.
ExpireUsage: 1 unused G after its ExpireDate -> 4 + TicketExpired(usage); anything else: no-op. P is never 4.
"""

from __future__ import annotations

from datetime import datetime, time

from services.redemption.domain.commands import (
    Command,
    ExpireEscrow,
    ExpireUsage,
    Request,
    WriteOff,
    WriteOffAction,
)
from services.redemption.domain.decision import Decision, Transition
from services.redemption.domain.expiry import catch_up, expire_escrow, expire_usage
from services.redemption.domain.facts import rejected
from services.redemption.domain.refund import cancel_refund, refund
from services.redemption.domain.ticket import Ticket
from services.redemption.domain.write_off import cancel_write_off, write_off
from shared.clock import MIDNIGHT, utc
from shared.contracts.rtncodes import RtnCode


def decide(ticket: Ticket | None, command: Command, now: datetime, cutoff: time = MIDNIGHT) -> Decision:
    """The new state of `ticket` and the events of applying `command` at the aware instant `now` (`cutoff`: the
    platform's business-day cut-off, BUSINESS_DAY_CUTOFF, which bounds the cancel window)."""
    now = utc(now)  # refuses naive datetimes; events carry UTC
    if isinstance(command, ExpireEscrow | ExpireUsage):
        if ticket is None or ticket.ticket_no != command.ticket_no:
            return Decision(ticket)  # nothing known to expire
        expire = expire_escrow if isinstance(command, ExpireEscrow) else expire_usage
        return Decision(*expire(ticket, now))
    if ticket is None or not _identifies(ticket, command):
        return Decision(ticket, (rejected(command, RtnCode.TICKET_NOT_FOUND, now, ticket_trade_no=None),))
    if ticket.merchant_id != command.merchant_id:
        # Refused before catching up, so another merchant's request never changes (or reveals) this ticket.
        refusal = rejected(command, RtnCode.TICKET_OF_OTHER_MERCHANT, now, ticket_trade_no=None)
        return Decision(ticket, (refusal,))
    ticket, expired = catch_up(ticket, now)
    ticket, events = _apply(ticket, command, now, cutoff)
    return Decision(ticket, expired + events)


def _apply(ticket: Ticket, command: Request, now: datetime, cutoff: time) -> Transition:
    if isinstance(command, WriteOff):
        if command.action is WriteOffAction.CANCEL:
            return cancel_write_off(ticket, command, now, cutoff)
        return write_off(ticket, command, now)
    return cancel_refund(ticket, command, now, cutoff) if command.cancel else refund(ticket, command, now)


def _identifies(ticket: Ticket, command: Request) -> bool:
    """Every identifier the request gave names this ticket (ECTicket sends an unused one as "")."""
    if isinstance(command, WriteOff):
        return command.write_off_hash == ticket.write_off_hash
    ticket_no_ok = not command.ticket_no or command.ticket_no == ticket.ticket_no
    write_off_hash_ok = not command.write_off_hash or command.write_off_hash == ticket.write_off_hash
    return ticket_no_ok and write_off_hash_ok
