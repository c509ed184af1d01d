"""Issuing orders end to end from a test (payment, Issue request, TicketsIssued), for the redemption tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.clock import business_date
from shared.contracts.common import RefundFeeRule, TicketType
from shared.contracts.events import wrap
from shared.contracts.issuance import IssuedTicket, TicketsIssued
from shared.ecticket.processor_query import processor_url
from shared.sandbox.checkout import checkout
from shared.sandbox.merchant import MerchantClient, open_reply, unique
from shared.sandbox.tap import Tap
from tests.support.codes import code_key, protected, with_codes


def issue_data(
    trade_no: str, items: dict[str, int], *, merchant_id: str, free: bool, **line_extra: str
) -> dict[str, Any]:
    order = {"FreeTradeNo": trade_no} if free else {"MerchantTradeNo": trade_no}
    lines = [{"ItemNo": item, "TicketAmount": count, **line_extra} for item, count in items.items()]
    return {"MerchantID": merchant_id, **order, "IssueType": "3", "Operator": "tester", "TicketInfo": lines}


async def pay(merchant_id: str, trade_no: str, amount: int, **options: Any) -> dict[str, str]:
    """A consumer pays for the order at the sandbox processor (PROCESSOR_URL, the session's), which records the
    trade and delivers the signed AIO result to the platform; the result. `options`: those of `checkout`."""
    return await checkout(processor_url(), merchant_id, trade_no, amount, **options)


async def issue(
    merchant: MerchantClient,
    tap: Tap,
    merchant_id: str,
    items: dict[str, int],
    *,
    paid: int = 0,
    platform_id: str | None = None,
    **line_extra: str,
) -> dict[str, Any]:
    """Issue an order (a paid one when `paid` > 0: paid at the processor first) and return its TicketsIssued payload,
    each ticket with the `write_off_no` its merchant reads in the reply (the event carries it only sealed)."""
    trade_no = unique("RD")
    if paid:
        await pay(merchant_id, trade_no, paid)
    data = issue_data(trade_no, items, merchant_id=merchant_id, free=not paid, **line_extra)
    message = merchant.request("Issue", data, merchant_id=merchant_id, platform_id=platform_id)
    await merchant.send_request(message)
    [issued] = await tap.wait_for(
        lambda s: s.type == "TicketsIssued" and s.payload["ticket_trade_no"] == trade_no, seconds=30
    )
    return issued.payload | {"tickets": with_codes(issued.payload["tickets"])}


async def issue_tickets(
    merchant: MerchantClient, tap: Tap, merchant_id: str, item: str, count: int = 1, *, face: int = 0, **extra: str
) -> list[dict[str, Any]]:
    """Just the tickets of a one-line order (`face` > 0: a paid order of pickup vouchers)."""
    order = await issue(merchant, tap, merchant_id, {item: count}, paid=face * count, **extra)
    return list(order["tickets"])


async def reply_data(tap: Tap, request_id: str, reader: str, seconds: float = 30) -> dict[str, Any]:
    """The decrypted Data of the one reply to `request_id`, opened with `reader`'s keys."""
    [seen] = await tap.wait_for(
        lambda s: s.type == "RequestReplied" and s.payload["request_id"] == request_id, seconds=seconds
    )
    return open_reply(seen.payload["response"], reader)


def gift_order_not_yet_issued(merchant_id: str, count: int = 1) -> TicketsIssued:
    """A TicketsIssued as issuance would publish it, built by the test so it can hold the event back: the test
    then plays issuance and decides when redemption learns the tickets (gift vouchers: no money involved)."""
    trade_no = unique("LT")
    today = business_date(datetime.now(UTC))
    tickets = tuple(_gift_ticket(today) for _ in range(count))
    return TicketsIssued(
        merchant_id=merchant_id, platform_id=None, ticket_trade_no=trade_no, merchant_trade_no=None,
        free_trade_no=trade_no, request_id=unique("R"), issue_type="3", issued_at=datetime.now(UTC), payment=None,
        escrow_days=None, escrow_expiry_date=None, total_face_value=0, tickets=tickets,
    )  # fmt: skip


def gift_write_off_no(ticket: IssuedTicket) -> str:
    """The WriteOffNo of a ticket `gift_order_not_yet_issued` made."""
    return code_key().open(ticket.ticket_no, ticket.write_off_sealed)


def _gift_ticket(today: date) -> IssuedTicket:
    ticket_no = unique("N")[:16]
    return IssuedTicket(
        ticket_no=ticket_no, **protected(ticket_no, unique("W")[:18]), ticket_type=TicketType.GIFT, item_no="GF000030",
        item_name="Free dessert", face_value=0, start_date=today, expire_date=today + timedelta(days=29),
        refund_fee_rule=RefundFeeRule(),
    )  # fmt: skip


async def publish_issued(merchant: MerchantClient, event: TicketsIssued) -> None:
    out = wrap(event, event_id=uuid.uuid4(), occurred_at=event.issued_at, producer="issuance",
               correlation_id=event.request_id, causation_id=None)  # fmt: skip
    await merchant.send_raw(out.topic, out.envelope.to_bytes(), key=out.key.encode())
