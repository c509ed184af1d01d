"""Reply Data of each query from the read models (pure): ECTicket's field names, dates as it writes them.

Nothing here knows about other merchants: the store only ever loads the asking merchant's rows, so an order of
another merchant and a missing one reach `not_found` the same way (no existence oracle).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.query.domain.paging import Page
from services.query.domain.views import Counts, OrderView, RefundTransfer, TicketView
from shared.contracts.common import UseStatus

TAIPEI = ZoneInfo("Asia/Taipei")


def ymd(day: date | None) -> str:
    return day.strftime("%Y%m%d") if day else ""


def stamp(moment: datetime | None) -> str:
    """`yyyy/MM/dd HH:mm:ss` in Asia/Taipei, as ECTicket writes IssueDate."""
    return moment.astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M:%S") if moment else ""


def order_number(order: OrderView) -> dict[str, str]:
    return {"FreeTradeNo" if order.free else "MerchantTradeNo": order.trade_no}


def ticket_data(tickets: Sequence[TicketView]) -> list[dict[str, Any]]:
    """The Issue reply's product lines: tickets counted by item, name and price, in issue order."""
    lines: dict[tuple[str | None, str, int], int] = {}
    for t in tickets:
        key = (t.item_no, t.item_name, t.face_value)
        lines[key] = lines.get(key, 0) + 1
    return [
        {"ItemNo": no or "", "ItemName": name, "TicketPrice": price, "TicketAmount": count}
        for (no, name, price), count in lines.items()
    ]


def issued_ticket(t: TicketView) -> dict[str, Any]:
    """A ticket as the Issue reply lists it (what a merchant that lost that reply needs back)."""
    return {
        "TicketNo": t.ticket_no,
        "WriteOffNo": t.write_off_no,
        "ItemNo": t.item_no or "",
        "TicketType": int(t.ticket_type),
        "StartDate": ymd(t.start_date),
        "ExpireDate": ymd(t.expire_date),
    }


def issue_result(order: OrderView, tickets: Sequence[TicketView]) -> dict[str, Any]:
    """QueryIssueResult (§3.7): the outcome, and for an issued order its tickets as the Issue reply gave them."""
    data: dict[str, Any] = {**order_number(order), "Status": int(order.status), "Remark": order.remark}
    if order.ticket_trade_no:
        data |= {
            "TicketTradeNo": order.ticket_trade_no,
            "TicketData": ticket_data(tickets),
            "TicketList": [issued_ticket(t) for t in tickets],
        }
    return data


def ticket_status(t: TicketView) -> dict[str, Any]:
    """One ticket, §3.9's shape. TicketAmount is the ticket's face value (0 for a gift voucher)."""
    return {
        "TicketNo": t.ticket_no,
        "WriteOffNo": t.write_off_no,
        "UseStatus": int(t.status),
        "ItemNo": t.item_no or "",
        "ItemName": t.item_name,
        "TicketType": int(t.ticket_type),
        "TicketAmount": t.face_value,
        "StartDate": ymd(t.start_date),
        "ExpiredDate": ymd(t.expire_date),
        "WriteOffDate": stamp(t.written_off_at),
        "RefundDate": stamp(t.refunded_at),
    }


def one_ticket(order: OrderView | None, t: TicketView) -> dict[str, Any]:
    """QueryTicketStatus for one ticket: the ticket and the order it belongs to."""
    numbers = order_number(order) | {"TicketTradeNo": order.ticket_trade_no or ""} if order else {}
    return {**numbers, **ticket_status(t)}


def ticket_page(order: OrderView, page: Page, total: int, tickets: Sequence[TicketView]) -> dict[str, Any]:
    """QueryTicketStatus by order number: one page of its tickets (200 a page)."""
    return {
        **order_number(order),
        "TicketTradeNo": order.ticket_trade_no or "",
        "PageNum": page.number,
        "TotalPage": page.total_pages(total),
        "TotalCount": total,
        "TicketList": [ticket_status(t) for t in tickets],
    }


def print_data(order: OrderView, tickets: Sequence[TicketView]) -> dict[str, Any]:
    """QueryPrintData (§3.8): what a paper ticket shows, for the order's unused tickets only."""
    unused = [t for t in tickets if t.status is UseStatus.UNUSED]
    return {
        **order_number(order),
        "TicketTradeNo": order.ticket_trade_no or "",
        "IssueType": order.issue_type or "",
        "TicketList": [
            {
                "TicketNo": t.ticket_no,
                "WriteOffNo": t.write_off_no,
                "ItemNo": t.item_no or "",
                "ItemName": t.item_name,
                "TicketType": int(t.ticket_type),
                "TicketPrice": t.face_value,
                "StartDate": ymd(t.start_date),
                "ExpireDate": ymd(t.expire_date),
            }
            for t in unused
        ],
    }


def order_info(order: OrderView, counts: Counts, page: Page, tickets: Sequence[TicketView]) -> dict[str, Any]:
    """QueryOrderInfo (§3.11): the order, its totals over every ticket, and one page of tickets."""
    return {
        "MerchantID": order.merchant_id,
        **order_number(order),
        "TicketTradeNo": order.ticket_trade_no or "",
        "PaymentProvider": "1" if order.payment_trade_no else "",
        "CreditTradeID": order.payment_trade_no or "",
        "Status": int(order.status),
        "Remark": order.remark,
        "IssueDate": stamp(order.issued_at),
        "IssueType": order.issue_type or "",
        "PrintType": order.details.print_type or "",
        "IsImmediate": order.details.is_immediate or "",
        "CustomerName": order.details.customer_name or "",
        "CustomerPhone": order.details.customer_phone or "",
        "CustomerEmail": order.details.customer_email or "",
        "EscrowExpiredDate": ymd(order.escrow_expiry_date),
        "TotalCount": counts.total,
        "TradeAmount": counts.total_amount,
        "RedeemCount": counts.redeemed,
        "RedeemAmount": counts.redeemed_amount,
        "RefundCount": counts.refunded,
        "RefundAmount": counts.refunded_amount,
        "TotalRefundFee": counts.refund_fees,
        "UnUsedCount": counts.unused,
        "UnUsedAmount": counts.unused_amount,
        "ExpiredCount": counts.expired,
        "PageNum": page.number,
        "TotalPage": page.total_pages(counts.total),
        "TicketList": [ticket_status(t) for t in tickets],
    }


def refund_info(
    order: OrderView, tickets: Sequence[TicketView], transfers: Sequence[RefundTransfer] = ()
) -> dict[str, Any]:
    """QueryRefundInfo (§3.10): the order's refunded tickets, each with its amount back and the merchant's fee
    (a refund cancelled the same day is not one: the ticket is unused again), and the bank's side: the refund
    transfers settlement instructed for the order and what the bank confirmed of them (`BankConfirmedAmount`)."""
    refunded = [t for t in tickets if t.status is UseStatus.REFUNDED]
    return {
        **order_number(order),
        "TicketTradeNo": order.ticket_trade_no or "",
        "RefundCount": len(refunded),
        "RefundAmount": sum(t.refund_amount for t in refunded),
        "TotalRefundFee": sum(t.fee for t in refunded),
        "RefundList": [
            {
                "TicketNo": t.ticket_no,
                "WriteOffNo": t.write_off_no,
                "TicketAmount": t.face_value,
                "RefundAmount": t.refund_amount,
                "RefundFee": t.fee,
                "RefundDate": stamp(t.refunded_at),
            }
            for t in refunded
        ],
        "BankConfirmedAmount": sum(t.amount for t in transfers if t.status == "confirmed"),
        "BankTransferList": [
            {
                "Amount": t.amount,
                "Status": t.status,
                "BusinessDate": ymd(t.business_date),
                "AnsweredDate": stamp(t.answered_at),
            }
            for t in transfers
        ],
    }
