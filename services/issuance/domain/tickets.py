"""Building the TicketsIssued fact of an order: codes, escrow expiry date, usage periods."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from services.issuance.domain.request import IssueOrder, OrderLine
from shared.clock import business_date
from shared.contracts.common import RefundFeeRule, TicketType
from shared.contracts.issuance import IssuedTicket, PaymentRef, TicketsIssued
from shared.ecticket.write_off_codes import ProtectedCode


def escrow_expiry_date(payment_date: datetime, escrow_days: int) -> date:
    """Last Asia/Taipei business day of escrow: payment day + escrow days (the period ends when that day ends)."""
    return business_date(payment_date) + timedelta(days=escrow_days)


def fixed_escrow_days(at_payment: int | None, current: int) -> int:
    """The escrow days that set the escrow end: those the payment was confirmed with (a configuration change later
    does not move the end); the merchant's current setting only for a payment whose event predates them."""
    return current if at_payment is None else at_payment


def usage_period(line: OrderLine, issued_on: date) -> tuple[date | None, date | None]:
    """Explicit request dates win; else the product's rule. Pickup vouchers never get an ExpireDate."""
    rule = line.usage
    start = line.start_date
    if start is None and rule.start_after_days:
        start = issued_on + timedelta(days=rule.start_after_days)
    if line.expire_date is not None or line.ticket_type is TicketType.PICKUP or rule.valid_days is None:
        return start, line.expire_date
    first_day = start or issued_on
    return first_day, first_day + timedelta(days=rule.valid_days - 1)


def build_tickets_issued(
    order: IssueOrder,
    *,
    platform_id: str | None,
    request_id: str,
    payment: PaymentRef | None,
    escrow_days: int,
    merchant_fee_rule: RefundFeeRule,
    issued_at: datetime,
    codes: Callable[[], tuple[str, ProtectedCode]],
) -> TicketsIssued:
    """`codes()` yields a fresh TicketNo and its WriteOffNo as the platform keeps it (hash and ciphertext, never the
    code); uniqueness is enforced again by the database."""
    issued_on = business_date(issued_at)
    tickets: list[IssuedTicket] = []
    for line in order.lines:
        start, expire = usage_period(line, issued_on)
        rule = line.refund_fee_rule or merchant_fee_rule
        for _ in range(line.amount):
            ticket_no, write_off = codes()
            tickets.append(
                IssuedTicket(
                    ticket_no=ticket_no,
                    write_off_hash=write_off.digest,
                    write_off_sealed=write_off.sealed,
                    ticket_type=line.ticket_type,
                    item_no=line.item_no,
                    item_name=line.item_name,
                    face_value=line.face_value,
                    start_date=start,
                    expire_date=expire,
                    refund_fee_rule=rule if line.ticket_type is TicketType.PICKUP else RefundFeeRule(),
                )
            )
    return TicketsIssued(
        merchant_id=order.merchant_id,
        platform_id=platform_id,
        ticket_trade_no=order.trade_no,
        merchant_trade_no=order.trade_no if order.paid else None,
        free_trade_no=None if order.paid else order.trade_no,
        request_id=request_id,
        issue_type=order.issue_type,
        issued_at=issued_at,
        payment=payment,
        escrow_days=escrow_days if payment else None,
        escrow_expiry_date=escrow_expiry_date(payment.payment_date, escrow_days) if payment else None,
        total_face_value=order.pickup_total,
        tickets=tuple(tickets),
        details=order.details,
    )
