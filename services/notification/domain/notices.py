"""What a merchant is told, and about which events (docs/decisions.md, "Notifications").

- UseStatusNotifyURL (§4.2): every change of a ticket's UseStatus, at once: written off (2), write-off cancelled
  (1), refunded (3), refund cancelled (1), a gift voucher's usage expiry (4). `UseStatus` is the ticket's status
  after the change, in the codes of QueryTicketStatus (§5.4), so a cancellation can be told too. A pickup voucher's
  escrow expiry changes no status (it stays redeemable) and is not notified.
- RefundNotifyURL (§4.1): the refund *result*: when the escrow bank confirms a refund transfer to the consumer of a
  pickup-voucher order (`TransferConfirmed`, kind refund). The refund itself was already told by UseStatus 3.

Every notification has a stable id derived from the event that caused it (`NotificationID` inside Data, and the
`X-Notification-Id` header): a redelivered event, a retry and an operator's redelivery all carry the same id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.clock import TAIPEI
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
from shared.contracts.settlement import TransferConfirmed, TransferKind
from shared.ids import derived_id

REFUND_REMARK = "refund transferred to the consumer"


class Kind(StrEnum):
    REFUND = "refund"  # RefundNotifyURL
    USE_STATUS = "use_status"  # UseStatusNotifyURL


@dataclass(frozen=True)
class Notice:
    """One notification to send: to whom, about which order, and its Data (plaintext, sealed when sent)."""

    notification_id: uuid.UUID
    kind: Kind
    merchant_id: str
    ticket_trade_no: str
    data: dict[str, Any]


def status_after(event: TicketEvent) -> UseStatus | None:
    """The ticket's UseStatus after `event`; None when the event changes no status."""
    if isinstance(event, TicketWrittenOff):
        return UseStatus.WRITTEN_OFF
    if isinstance(event, WriteOffCancelled | RefundCancelled):
        return UseStatus.UNUSED
    if isinstance(event, TicketRefunded):
        return UseStatus.REFUNDED
    if isinstance(event, TicketExpired) and event.kind is ExpiryKind.USAGE:
        return UseStatus.EXPIRED
    return None


def use_status_notice(event_id: uuid.UUID, event: TicketEvent) -> Notice | None:
    status = status_after(event)
    if status is None:
        return None
    notification_id = notification_id_of(event_id, Kind.USE_STATUS)
    data: dict[str, Any] = {
        "MerchantID": event.merchant_id,
        **_order_number(event.merchant_trade_no, event.free_trade_no),
        "TicketTradeNo": event.ticket_trade_no,
        "TicketNo": event.ticket_no,
        "UseStatus": int(status),
        "StatusTime": wall_clock(event.at),
        "NotificationID": str(notification_id),
    }
    return Notice(notification_id, Kind.USE_STATUS, event.merchant_id, event.ticket_trade_no, data)


def refund_notice(event_id: uuid.UUID, event: TransferConfirmed) -> Notice | None:
    """The refund result of a pickup-voucher order; None for any other transfer (a payout to the merchant)."""
    if event.transfer is not TransferKind.REFUND or event.ticket_trade_no is None:
        return None
    notification_id = notification_id_of(event_id, Kind.REFUND)
    data: dict[str, Any] = {
        "MerchantID": event.merchant_id,
        # Refunds are of paid orders, whose TicketTradeNo is the MerchantTradeNo (§5.0 rule 1).
        "MerchantTradeNo": event.ticket_trade_no,
        "TicketTradeNo": event.ticket_trade_no,
        "RefundAmount": event.amount,
        "Remark": REFUND_REMARK,
        "RefundTime": wall_clock(event.at),
        "NotificationID": str(notification_id),
    }
    return Notice(notification_id, Kind.REFUND, event.merchant_id, event.ticket_trade_no, data)


def notification_id_of(event_id: uuid.UUID, kind: Kind) -> uuid.UUID:
    """Stable: the same event always gives the same id, so a merchant can drop repeats by it."""
    return derived_id(event_id, f"notify/{kind.value}")


def wall_clock(moment: datetime) -> str:
    """`yyyy/MM/dd HH:mm:ss`, Asia/Taipei: how ECTicket writes times inside Data (IssueDate, §3.11)."""
    return moment.astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M:%S")


def _order_number(merchant_trade_no: str | None, free_trade_no: str | None) -> dict[str, str]:
    if merchant_trade_no:
        return {"MerchantTradeNo": merchant_trade_no}
    return {"FreeTradeNo": free_trade_no or ""}
