"""What redemption publishes: the core's events with deterministic ids, and the reply to each request (pure).

Event ids never depend on when or how often something ran, so a batch redone after a crash produces the same
ids and the outbox (unique event_id) and every downstream inbox keep exactly one copy:
- a request's own event (its state change or its rejection): uuid5(request message id, event type);
- `TicketExpired`: uuid5(ticket no., kind), whichever path emits it — the scheduler, or `decide` catching up
  before a request. Each ticket expires at most once per kind (escrow_released never resets; status 4 is final).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.redemption.domain import Decision, Request, WriteOff
from services.redemption.inbound import WRITE_OFF, Invalid
from shared.contracts.events import Event, Outgoing, Producer
from shared.contracts.redemption import (
    RedemptionOperation,
    RedemptionRejected,
    RefundCancelled,
    TicketEvent,
    TicketExpired,
    TicketRefunded,
)
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.replies import Asker, reply
from shared.ids import derived_id
from shared.merchants.model import Merchant

PRODUCER = Producer("redemption")


def expiry_event_id(ticket_no: str, kind: str) -> uuid.UUID:
    return derived_id(f"ticket/{ticket_no}", f"expired/{kind}")


def wrapped(events: Iterable[Event], cause: Asker | None, now: datetime) -> list[Outgoing]:
    """Envelopes for the core's events; `cause` is None when time (the scheduler) caused them."""
    out = []
    for event in events:
        if isinstance(event, TicketExpired):
            event_id = expiry_event_id(event.ticket_no, event.kind)
        else:
            assert cause is not None, "only expiries happen without a request"
            event_id = derived_id(cause.message_id, event.event_type)
        out.append(
            PRODUCER.event(
                event,
                event_id,
                now,
                occurred_at=event.at if isinstance(event, TicketEvent | RedemptionRejected) else now,
                correlation_id=cause.request_id if cause else None,
                causation_id=str(cause.message_id) if cause else None,
            )
        )
    return out


def answer(asker: Asker, signer: Merchant | None, command: Request, decision: Decision, now: datetime) -> Outgoing:
    """The reply to a decided request: its RtnCode, the refusal's reason as RtnMsg, and `reply_fields`."""
    refusal = decision.rejection
    detail = refusal.reason if refusal is not None else None
    extra = reply_fields(command, decision)
    return reply(asker.addressee(signer), decision.rtn_code, detail, now, PRODUCER, extra=extra)


def invalid_data(
    asker: Asker, signer: Merchant | None, invalid: Invalid, acting_platform_id: str | None, now: datetime
) -> list[Outgoing]:
    """`RedemptionRejected(1001)` and the reply, for Data that cannot be decided on."""
    rejection = RedemptionRejected(
        operation=_operation(asker.operation, invalid.cancel),
        rtn_code=RtnCode.DATA_INVALID,
        reason=invalid.detail,
        merchant_id=asker.merchant_id,
        acting_platform_id=acting_platform_id,
        ticket_no=invalid.ticket_no,
        write_off_hash=invalid.write_off_hash,
        ticket_trade_no=None,
        request_id=asker.request_id,
        at=now,
    )
    answer = reply(asker.addressee(signer), RtnCode.DATA_INVALID, invalid.detail, now, PRODUCER)
    return [*wrapped([rejection], asker, now), answer]


def reply_fields(command: Request, decision: Decision) -> dict[str, Any]:
    """Extra reply Data: the ticket's new status for its own merchant, and the money of a refund.

    Nothing about the ticket is returned when it is unknown or another merchant's (the rejection then carries
    no ticket_trade_no): a WriteOffNo must not become a way to probe other merchants' orders.
    """
    fields: dict[str, Any] = {}
    if isinstance(command, WriteOff):
        fields["WriteOffNo"] = command.write_off_no
    rejection, ticket = decision.rejection, decision.ticket
    if ticket is not None and (rejection is None or rejection.ticket_trade_no is not None):
        fields |= {"TicketNo": ticket.ticket_no, "TicketTradeNo": ticket.ticket_trade_no}
        fields["UseStatus"] = int(ticket.status)
    money = next((e for e in decision.events if isinstance(e, TicketRefunded | RefundCancelled)), None)
    if money is not None:
        fields |= {"RefundAmount": money.refund_amount, "Fee": money.fee}
    return fields


def _operation(operation: str, cancel: bool) -> RedemptionOperation:
    if operation == WRITE_OFF:
        return RedemptionOperation.CANCEL_WRITE_OFF if cancel else RedemptionOperation.WRITE_OFF
    return RedemptionOperation.CANCEL_REFUND if cancel else RedemptionOperation.REFUND
