"""Events of the redemption service: every change of a ticket's usage state, and every refusal.

Each state-change event carries the facts escrow settlement needs to move money without asking back. Money moves
only for pickup vouchers (gift vouchers have no escrow: their `escrow_expiry_date` is None and `within_escrow` is
always false). All events of one order share the order's partition key, so settlement sees them in order.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import AwareDatetime

from shared.contracts.common import NTD, TicketType, order_key
from shared.contracts.events import Event, register
from shared.contracts.rtncodes import RtnCode
from shared.topics import REDEMPTION_EVENTS


class TicketEvent(Event):
    """Facts common to every state change of one ticket (not registered: abstract)."""

    topic = REDEMPTION_EVENTS

    merchant_id: str
    platform_id: str | None  # the platform that issued the order, if any
    ticket_trade_no: str
    merchant_trade_no: str | None
    free_trade_no: str | None
    ticket_no: str
    write_off_hash: str  # the keyed hash of the ticket's WriteOffNo (a bearer code: never in the clear)
    ticket_type: TicketType
    face_value: NTD
    escrow_expiry_date: date | None  # last Asia/Taipei day of escrow; None for gift vouchers
    within_escrow: bool  # was `at` inside the escrow period (before the end of escrow_expiry_date)?
    request_id: str | None  # the request that caused it; None when time caused it (expiry)
    at: AwareDatetime

    def key(self) -> str:
        return order_key(self.merchant_id, self.ticket_trade_no)


@register
class TicketWrittenOff(TicketEvent):
    """Status 1 -> 2. Within escrow the face value goes to the merchant; after escrow nothing moves."""

    event_type = "TicketWrittenOff"

    store_id: str | None
    operator: str


@register
class WriteOffCancelled(TicketEvent):
    """Status 2 -> 1, on the write-off's business day; `within_escrow` always equals the write-off's."""

    event_type = "WriteOffCancelled"

    written_off_at: AwareDatetime
    operator: str
    cancel_reason: str | None


@register
class TicketRefunded(TicketEvent):
    """Status 1 -> 3. Pickup: fee to the merchant, refund_amount back to the consumer. Gift: all zero."""

    event_type = "TicketRefunded"

    fee: NTD
    refund_amount: NTD  # face_value - fee for pickup vouchers, 0 for gift vouchers
    operator: str


@register
class RefundCancelled(TicketEvent):
    """Status 3 -> 1, on the refund's business day (before its money is paid out); reverses fee and amount."""

    event_type = "RefundCancelled"

    refunded_at: AwareDatetime
    fee: NTD
    refund_amount: NTD
    operator: str


class ExpiryKind(StrEnum):
    ESCROW = "escrow"  # pickup voucher still unused when escrow ended: money to the merchant, stays redeemable
    USAGE = "usage"  # gift voucher unused after its ExpireDate: status 4, no money


@register
class TicketExpired(TicketEvent):
    event_type = "TicketExpired"

    kind: ExpiryKind


class RedemptionOperation(StrEnum):
    WRITE_OFF = "write_off"
    CANCEL_WRITE_OFF = "cancel_write_off"
    REFUND = "refund"
    CANCEL_REFUND = "cancel_refund"


@register
class RedemptionRejected(Event):
    """A refused request: no state changed. Carries the identifiers as the caller gave them."""

    event_type = "RedemptionRejected"
    topic = REDEMPTION_EVENTS

    operation: RedemptionOperation
    rtn_code: RtnCode
    reason: str
    merchant_id: str  # the requesting merchant (MerchantID of the request)
    acting_platform_id: str | None
    ticket_no: str | None
    write_off_hash: str | None  # the keyed hash of the WriteOffNo the request gave (never the code itself)
    # Only when the ticket is known and belongs to the requester (never leak another merchant's order number).
    ticket_trade_no: str | None
    request_id: str
    at: AwareDatetime

    def key(self) -> str:
        trade_no = self.ticket_trade_no or self.write_off_hash or self.ticket_no or self.request_id
        return order_key(self.merchant_id, trade_no)
