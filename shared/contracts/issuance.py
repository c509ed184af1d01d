"""Events of the issuance service."""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.contracts.common import NTD, RefundFeeRule, TicketType, order_key
from shared.contracts.events import Event, register
from shared.topics import ISSUANCE_EVENTS


class IssuedTicket(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_no: str
    # The WriteOffNo is a bearer code and never travels in the clear (shared/ecticket/write_off_codes.py): its keyed
    # hash, which write-off requests are looked up by, and its ciphertext (bound to ticket_no), which only the
    # services that show it to its merchant open.
    write_off_hash: str
    write_off_sealed: str
    ticket_type: TicketType
    item_no: str | None
    item_name: str
    face_value: NTD
    start_date: date | None
    expire_date: date | None
    refund_fee_rule: RefundFeeRule


class PaymentRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    trade_no: str
    amount: NTD
    payment_date: AwareDatetime


class OrderDetails(BaseModel):
    """The Issue request's fields that shape delivery and notifications rather than the tickets (§3.1), kept as the
    merchant sent them (None: not sent). A notify URL given here wins over the merchant's configured one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    print_type: str | None = None  # paper: "1" ECPay prints, "2" the merchant prints (QueryPrintData)
    is_immediate: str | None = None  # electronic: "1" immediate, "2" scheduled
    store_id: str | None = None
    operator: str | None = None
    customer_name: str | None = None
    customer_phone: str | None = None
    customer_email: str | None = None
    customer_address: str | None = None
    refund_notify_url: str | None = None
    use_status_notify_url: str | None = None


@register
class IssueAccepted(Event):
    """An Issue request's data was accepted: the order exists, processing (Status 3) until TicketsIssued or a final
    IssueFailed of the same order (same key, so they follow it in order)."""

    event_type = "IssueAccepted"
    topic = ISSUANCE_EVENTS

    merchant_id: str
    platform_id: str | None
    ticket_trade_no: str
    merchant_trade_no: str | None
    free_trade_no: str | None
    request_id: str
    issue_type: str
    accepted_at: AwareDatetime
    details: OrderDetails = OrderDetails()

    def key(self) -> str:
        return order_key(self.merchant_id, self.ticket_trade_no)


@register
class TicketsIssued(Event):
    """An order's tickets exist. Carries everything redemption and settlement need, so they never ask back."""

    event_type = "TicketsIssued"
    topic = ISSUANCE_EVENTS

    merchant_id: str
    platform_id: str | None
    ticket_trade_no: str
    merchant_trade_no: str | None
    free_trade_no: str | None
    request_id: str
    issue_type: str
    issued_at: AwareDatetime
    payment: PaymentRef | None
    escrow_days: int | None
    # Last Asia/Taipei business day of escrow; the period ends when that day ends. None for gift-only orders.
    escrow_expiry_date: date | None
    total_face_value: NTD
    tickets: tuple[IssuedTicket, ...]
    details: OrderDetails = OrderDetails()  # (events published before it existed have none)

    def key(self) -> str:
        return order_key(self.merchant_id, self.ticket_trade_no)


@register
class IssueFailed(Event):
    """An Issue request or an order that issued nothing.

    `final`: the order number is used up (issuance's order row is failed: amount mismatch, payment wait ran out,
    merchant disabled, or a payment no Issue request claimed in time): the order will never be issued, so every
    payment of it is refunded in full. A validation refusal (no order row) is not final: the merchant may send a
    corrected request. The failure of an unclaimed payment answers no request: its `request_id` is empty.
    """

    event_type = "IssueFailed"
    topic = ISSUANCE_EVENTS

    merchant_id: str
    platform_id: str | None
    merchant_trade_no: str | None
    free_trade_no: str | None
    request_id: str
    rtn_code: int
    reason: str
    failed_at: AwareDatetime
    final: bool = False

    def key(self) -> str:
        return order_key(self.merchant_id, self.merchant_trade_no or self.free_trade_no or self.request_id)
