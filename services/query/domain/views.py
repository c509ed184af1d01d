"""The read models as the core sees them: an order and its tickets, as the events left them (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from shared.contracts.common import IssueStatus, TicketType, UseStatus
from shared.contracts.issuance import OrderDetails


@dataclass(frozen=True)
class OrderView:
    merchant_id: str
    trade_no: str
    free: bool  # a FreeTradeNo (gift) order
    platform_id: str | None
    status: IssueStatus
    rtn_code: int
    remark: str
    ticket_trade_no: str | None
    issue_type: str | None
    issued_at: datetime | None
    escrow_expiry_date: date | None
    total_face_value: int
    payment_trade_no: str | None
    details: OrderDetails = field(default_factory=OrderDetails)


@dataclass(frozen=True)
class TicketView:
    ticket_no: str
    write_off_no: str
    trade_no: str
    ticket_type: TicketType
    item_no: str | None
    item_name: str
    face_value: int
    start_date: date | None
    expire_date: date | None
    status: UseStatus
    written_off_at: datetime | None
    refunded_at: datetime | None
    expired_at: datetime | None
    fee: int
    refund_amount: int


@dataclass(frozen=True)
class Counts:
    """An order's tickets summed by state (QueryOrderInfo's totals), over all its tickets, not one page."""

    total: int = 0
    total_amount: int = 0
    redeemed: int = 0
    redeemed_amount: int = 0
    refunded: int = 0
    refunded_amount: int = 0  # money back to consumers (face value less fees)
    refund_fees: int = 0
    unused: int = 0
    unused_amount: int = 0
    expired: int = 0


def status_after_failure(current: IssueStatus | None, final: bool) -> IssueStatus:
    """An IssueFailed never undoes an issued order: a later invalid request for the same order number also
    publishes IssueFailed, and the order stays issued (its tickets exist). Nor does a refused request (not final)
    fail an accepted order still processing: only the order's own final failure does."""
    if current is IssueStatus.SUCCESS or (current is IssueStatus.PROCESSING and not final):
        return current
    return IssueStatus.FAILED


@dataclass(frozen=True)
class TicketChange:
    """What one redemption event changes on a ticket's row; None leaves a column as it is."""

    status: UseStatus | None = None
    written_off_at: datetime | None = None
    clear_written_off: bool = False
    refunded_at: datetime | None = None
    clear_refund: bool = False  # a cancelled refund: no date, no fee, no amount back
    fee: int | None = None
    refund_amount: int | None = None
    expired_at: datetime | None = None
    escrow_released: bool = False


@dataclass(frozen=True)
class RefundTransfer:
    """A refund transfer to an order's consumer as settlement instructed it, and the bank's answer."""

    amount: int
    business_date: date | None
    status: str  # instructed, confirmed, rejected
    answered_at: datetime | None
