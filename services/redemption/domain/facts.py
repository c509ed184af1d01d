"""Builds event payloads from a ticket, so every event carries the same settlement facts."""

from __future__ import annotations

from datetime import date, datetime
from typing import TypedDict

from services.redemption.domain.commands import Refund, Request, WriteOff, WriteOffAction
from services.redemption.domain.ticket import Ticket
from shared.contracts.common import TicketType
from shared.contracts.redemption import RedemptionOperation, RedemptionRejected
from shared.contracts.rtncodes import RtnCode, message


class TicketFacts(TypedDict):
    """The fields of `TicketEvent`; a TypedDict so `Event(**facts, ...)` stays type-checked."""

    merchant_id: str
    platform_id: str | None
    ticket_trade_no: str
    merchant_trade_no: str | None
    free_trade_no: str | None
    ticket_no: str
    write_off_hash: str
    ticket_type: TicketType
    face_value: int
    escrow_expiry_date: date | None
    within_escrow: bool
    request_id: str | None
    at: datetime


def ticket_facts(ticket: Ticket, now: datetime, request_id: str | None) -> TicketFacts:
    return TicketFacts(
        merchant_id=ticket.merchant_id,
        platform_id=ticket.platform_id,
        ticket_trade_no=ticket.ticket_trade_no,
        merchant_trade_no=ticket.merchant_trade_no,
        free_trade_no=ticket.free_trade_no,
        ticket_no=ticket.ticket_no,
        write_off_hash=ticket.write_off_hash,
        ticket_type=ticket.ticket_type,
        face_value=ticket.face_value,
        escrow_expiry_date=ticket.escrow_expiry_date,
        within_escrow=ticket.within_escrow(now),
        request_id=request_id,
        at=now,
    )


def operation_of(request: Request) -> RedemptionOperation:
    if isinstance(request, WriteOff):
        cancel = request.action is WriteOffAction.CANCEL
        return RedemptionOperation.CANCEL_WRITE_OFF if cancel else RedemptionOperation.WRITE_OFF
    return RedemptionOperation.CANCEL_REFUND if request.cancel else RedemptionOperation.REFUND


def rejected(
    request: Request, code: RtnCode, now: datetime, *, ticket_trade_no: str | None, reason: str | None = None
) -> RedemptionRejected:
    """The refusal of `request`; `ticket_trade_no` only when the ticket is the requester's own."""
    return RedemptionRejected(
        operation=operation_of(request),
        rtn_code=code,
        reason=reason or message(code),
        merchant_id=request.merchant_id,
        acting_platform_id=request.acting_platform_id,
        ticket_no=request.ticket_no if isinstance(request, Refund) else None,
        write_off_hash=request.write_off_hash or None,
        ticket_trade_no=ticket_trade_no,
        request_id=request.request_id,
        at=now,
    )
