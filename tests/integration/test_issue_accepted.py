"""Issue as ECTicket answers it: at once, "accepted, processing" (Status 3); the outcome is read back with
QueryIssueResult. The fields that shape delivery (PrintType, IsImmediate, customer fields, notify URLs) are kept
and answered back; a merchant may opt in to the outcome reply instead."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.merchants.model import IssueReply
from shared.sandbox.merchant import MerchantClient, unique
from shared.sandbox.tap import Tap
from shared.settings import Settings
from tests.support.codes import with_codes
from tests.support.merchants import GIFT, PICKUP, fresh_merchant
from tests.support.orders import issue_data, pay, reply_data

pytestmark = pytest.mark.usefixtures("platform")

DELIVERY = {
    "IsImmediate": "1",
    "StoreID": "S01",
    "CustomerName": "Lin Mei",
    "CustomerPhone": "0912345678",
    "CustomerEmail": "mei@example.com",
    "RefundNotifyURL": "https://merchant.example/refunds",
    "UseStatusNotifyURL": "https://merchant.example/status",
}


async def ask(merchant: MerchantClient, tap: Tap, merchant_id: str, operation: str, **data: Any) -> dict[str, Any]:
    message = merchant.request(operation, {"MerchantID": merchant_id, **data}, merchant_id=merchant_id)
    return await reply_data(tap, await merchant.send_request(message), merchant_id)


async def send_issue(merchant: MerchantClient, merchant_id: str, data: dict[str, Any]) -> str:
    return await merchant.send_request(merchant.request("Issue", data, merchant_id=merchant_id))


def replies_to(tap: Tap, request_id: str) -> list[dict[str, Any]]:
    return [
        s.payload for s in tap.matching(lambda s: s.type == "RequestReplied" and s.payload["request_id"] == request_id)
    ]


async def test_issue_is_answered_at_once_as_accepted_and_the_outcome_is_read_back(
    merchant: MerchantClient, tap: Tap, topics: Settings
) -> None:
    merchant_id = await fresh_merchant(topics)
    trade_no = unique("IA")
    request_id = await send_issue(
        merchant, merchant_id, issue_data(trade_no, {PICKUP: 2}, merchant_id=merchant_id, free=False)
    )
    # No payment yet: the order waits for it, and the request is answered anyway: accepted, processing.
    accepted = await reply_data(tap, request_id, merchant_id)
    assert (accepted["RtnCode"], accepted["Status"], accepted["MerchantTradeNo"]) == (1, 3, trade_no)
    assert accepted["TicketData"] == [{"ItemNo": PICKUP, "ItemName": "Tea", "TicketPrice": 500, "TicketAmount": 2}]
    assert "TicketList" not in accepted
    waiting = await ask(merchant, tap, merchant_id, "QueryIssueResult", MerchantTradeNo=trade_no)
    assert (waiting["RtnCode"], waiting["Status"]) == (1, 3)

    await pay(merchant_id, trade_no, 1000)
    [issued] = await tap.wait_for(lambda s: s.type == "TicketsIssued" and s.payload["ticket_trade_no"] == trade_no)
    result = await ask(merchant, tap, merchant_id, "QueryIssueResult", MerchantTradeNo=trade_no)
    assert (result["Status"], len(result["TicketList"])) == (1, 2)
    assert {t["WriteOffNo"] for t in result["TicketList"]} == {
        t["write_off_no"] for t in with_codes(issued.payload["tickets"])
    }
    await asyncio.sleep(1)  # the outcome must not produce a second reply to the same request
    assert len(replies_to(tap, request_id)) == 1


async def test_a_merchant_that_opted_in_gets_the_outcome_as_its_only_reply(
    merchant: MerchantClient, tap: Tap, topics: Settings
) -> None:
    merchant_id = await fresh_merchant(topics, issue_reply=IssueReply.OUTCOME)
    trade_no = unique("IO")
    request_id = await send_issue(
        merchant, merchant_id, issue_data(trade_no, {GIFT: 3}, merchant_id=merchant_id, free=True)
    )
    outcome = await reply_data(tap, request_id, merchant_id)
    assert (outcome["RtnCode"], outcome["Status"], len(outcome["TicketList"])) == (1, 1, 3)
    await asyncio.sleep(1)
    assert len(replies_to(tap, request_id)) == 1


async def test_delivery_fields_are_kept_on_the_events_and_answered_by_query_order_info(
    merchant: MerchantClient, tap: Tap, topics: Settings
) -> None:
    merchant_id = await fresh_merchant(topics)
    trade_no = unique("ID")
    data = issue_data(trade_no, {GIFT: 1}, merchant_id=merchant_id, free=True) | DELIVERY
    await send_issue(merchant, merchant_id, data)
    [issued] = await tap.wait_for(lambda s: s.type == "TicketsIssued" and s.payload["ticket_trade_no"] == trade_no)
    details = issued.payload["details"]
    assert (details["refund_notify_url"], details["use_status_notify_url"]) == (
        "https://merchant.example/refunds",
        "https://merchant.example/status",
    )
    [accepted] = tap.matching(lambda s: s.type == "IssueAccepted" and s.payload["ticket_trade_no"] == trade_no)
    assert accepted.payload["details"] == details
    info = await ask(merchant, tap, merchant_id, "QueryOrderInfo", FreeTradeNo=trade_no)
    shown = {k: info[k] for k in ("IsImmediate", "CustomerName", "CustomerPhone", "CustomerEmail", "PrintType")}
    assert shown == {"IsImmediate": "1", "CustomerName": "Lin Mei", "CustomerPhone": "0912345678",
                     "CustomerEmail": "mei@example.com", "PrintType": ""}  # fmt: skip


@pytest.mark.parametrize(
    ("issue_type", "extra", "says"),
    [
        ("1", {}, "CustomerEmail is required for a convenience-store ticket"),
        ("2", {}, "PrintType is required for paper tickets"),
        ("2", {"PrintType": "1"}, "PrintType 1 (printed and delivered for you) is not offered"),
        ("2", {"PrintType": "2", "CustomerName": "Lin", "CustomerAddress": "Taipei"}, "merchant-prints-paper"),
        ("3", {"CustomerEmail": "not an address"}, "CustomerEmail"),
        ("3", {"RefundNotifyURL": "ftp://merchant.example/x"}, "RefundNotifyURL"),
    ],
)
async def test_delivery_fields_a_ticket_form_needs_are_required(
    merchant: MerchantClient, tap: Tap, topics: Settings, issue_type: str, extra: dict[str, str], says: str
) -> None:
    merchant_id = await fresh_merchant(topics)
    data = issue_data(unique("IV"), {GIFT: 1}, merchant_id=merchant_id, free=True) | {"IssueType": issue_type} | extra
    answer = await reply_data(tap, await send_issue(merchant, merchant_id, data), merchant_id)
    assert answer["RtnCode"] == 1001 and says in answer["RtnMsg"]


async def test_a_merchant_that_prints_gets_paper_orders_and_their_print_data(
    merchant: MerchantClient, tap: Tap, topics: Settings
) -> None:
    printer = await fresh_merchant(topics, prints_paper=True)
    trade_no = unique("IP")
    paper = {"IssueType": "2", "PrintType": "2", "CustomerName": "Lin Mei", "CustomerAddress": "1 Xinyi Rd, Taipei"}
    data = issue_data(trade_no, {GIFT: 2}, merchant_id=printer, free=True) | paper
    assert (await reply_data(tap, await send_issue(merchant, printer, data), printer))["Status"] == 3
    await tap.wait_for(lambda s: s.type == "TicketsIssued" and s.payload["ticket_trade_no"] == trade_no)
    printed = await ask(merchant, tap, printer, "QueryPrintData", FreeTradeNo=trade_no)
    assert (printed["RtnCode"], len(printed["TicketList"])) == (1, 2)

    other = await fresh_merchant(topics)
    refused = await ask(merchant, tap, other, "QueryPrintData", FreeTradeNo=trade_no)
    assert refused["RtnCode"] == 4003


async def test_an_order_of_a_thousand_tickets_is_read_back_whole(
    merchant: MerchantClient, tap: Tap, topics: Settings
) -> None:
    merchant_id = await fresh_merchant(topics, issue_reply=IssueReply.OUTCOME)
    trade_no = unique("IK")
    request_id = await send_issue(
        merchant, merchant_id, issue_data(trade_no, {GIFT: 1000}, merchant_id=merchant_id, free=True)
    )
    outcome = await reply_data(tap, request_id, merchant_id)  # about 110 KB of Data: more than a request may hold
    assert (outcome["Status"], len(outcome["TicketList"])) == (1, 1000)
    result = await ask(merchant, tap, merchant_id, "QueryIssueResult", FreeTradeNo=trade_no)
    assert {t["WriteOffNo"] for t in result["TicketList"]} == {t["WriteOffNo"] for t in outcome["TicketList"]}
