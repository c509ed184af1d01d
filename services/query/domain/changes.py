"""How each redemption event moves a ticket's row in the read model (pure)."""

from __future__ import annotations

from services.query.domain.views import TicketChange
from shared.contracts.common import UseStatus
from shared.contracts.redemption import (
    ExpiryKind,
    RefundCancelled,
    TicketEvent,
    TicketExpired,
    TicketRefunded,
    TicketWrittenOff,
    WriteOffCancelled,
)


def change_of(event: TicketEvent) -> TicketChange:
    if isinstance(event, TicketWrittenOff):
        return TicketChange(status=UseStatus.WRITTEN_OFF, written_off_at=event.at)
    if isinstance(event, WriteOffCancelled):
        return TicketChange(status=UseStatus.UNUSED, clear_written_off=True)
    if isinstance(event, TicketRefunded):
        return TicketChange(
            status=UseStatus.REFUNDED, refunded_at=event.at, fee=event.fee, refund_amount=event.refund_amount
        )
    if isinstance(event, RefundCancelled):
        return TicketChange(status=UseStatus.UNUSED, clear_refund=True)
    if isinstance(event, TicketExpired):
        if event.kind is ExpiryKind.USAGE:
            return TicketChange(status=UseStatus.EXPIRED, expired_at=event.at)
        return TicketChange(escrow_released=True)  # a pickup voucher stays redeemable after its escrow
    return TicketChange()
