"""ECTicket over HTTP: a merchant whose client shares no code with the platform pays through the webhook, issues,
writes off, refunds and queries through the gateway, against the running platform (real Kafka, real Postgres).

The client is tests/support/http_client.py (the envelope of tests/support/independent_client.py, checked against
the document's official vectors, over plain aiohttp)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from shared.clock import business_date
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.processor_query import processor_url
from shared.sandbox.aio import as_form
from shared.sandbox.checkout import checkout
from shared.sandbox.merchant import KEYS, unique
from shared.sandbox.tap import Tap
from shared.settings import Settings
from tests.support.http_client import Answer, HttpMerchant
from tests.support.merchants import GIFT, PICKUP, fresh_merchant

pytestmark = pytest.mark.usefixtures("platform")  # the gateway among its services (tests/conftest.py)


@pytest.fixture(scope="module")
async def merchant_id(topics: Settings) -> str:
    """A merchant of this module's own (its OrderDetail minute and its tickets are nobody else's)."""
    return await fresh_merchant(topics)


@pytest.fixture
async def client(merchant_id: str) -> AsyncIterator[HttpMerchant]:
    async with HttpMerchant(merchant_id, *KEYS[merchant_id]) as started:
        yield started


async def pay_via_webhook(client: HttpMerchant, merchant_id: str, trade_no: str, amount: int) -> Answer:
    """The consumer pays at the sandbox processor, which does not deliver the result itself: ECPay's callback is
    posted to the gateway's ReturnURL instead, form-encoded as ECPay posts it."""
    fields = await checkout(processor_url(), merchant_id, trade_no, amount, deliver=False)
    return await client.post("/payment/ecpay/return", as_form(fields), "application/x-www-form-urlencoded")


async def test_a_paid_order_lives_its_whole_life_over_http(client: HttpMerchant, merchant_id: str, tap: Tap) -> None:
    trade_no = unique("GW")
    paid = await pay_via_webhook(client, merchant_id, trade_no, 1000)
    assert (paid.status, paid.text) == (200, "1|OK")
    # Confirmed through the same verified path as a result delivered over Kafka (the processor vouches for it); the
    # Issue then finds it at once, however loaded the machine (the test payment wait is 6 s).
    await tap.wait_for(lambda s: s.type == "PaymentConfirmed" and s.payload["merchant_trade_no"] == trade_no)

    issue = {"MerchantTradeNo": trade_no, "IssueType": "3", "Operator": "gw",
             "TicketInfo": [{"ItemNo": PICKUP, "TicketAmount": 2}]}  # fmt: skip
    assert (await client.ok("Issue", issue))["RtnCode"] == RtnCode.SUCCESS
    result = await client.issued({"MerchantTradeNo": trade_no})
    assert (result["RtnCode"], result["Status"]) == (1, 1), result.get("Remark")
    first, second = result["TicketList"]

    # WriteOff and Refund answer with the final outcome, as a POS needs it.
    used = await client.ok("WriteOff", {"WriteOffNo": first["WriteOffNo"], "Action": "1", "Operator": "gw"})
    assert (used["RtnCode"], used["TicketNo"], used["UseStatus"]) == (1, first["TicketNo"], 2)
    cancelled = await client.ok("WriteOff", {"WriteOffNo": first["WriteOffNo"], "Action": "2", "Operator": "gw",
                                              "CancelReason": "wrong ticket"})  # fmt: skip
    assert (cancelled["RtnCode"], cancelled["UseStatus"]) == (1, 1)
    refunded = await client.ok("Refund", {"TicketNo": second["TicketNo"], "Action": "1", "Operator": "gw"})
    assert (refunded["RtnCode"], refunded["UseStatus"]) == (1, 3)
    restored = await client.ok("Refund", {"TicketNo": second["TicketNo"], "Action": "2", "Operator": "gw"})
    assert (restored["RtnCode"], restored["UseStatus"]) == (1, 1)
    again = await client.ok("Refund", {"TicketNo": first["TicketNo"], "Action": "1", "Operator": "gw"})
    assert again["RtnCode"] == RtnCode.SUCCESS

    status = await client.ok("QueryTicketStatus", {"WriteOffNo": second["WriteOffNo"]})
    assert (status["RtnCode"], status["TicketNo"], status["UseStatus"]) == (1, second["TicketNo"], 1)
    order = await client.ok("QueryOrderInfo", {"MerchantTradeNo": trade_no})
    assert (order["TotalCount"], order["RefundCount"], order["UnUsedCount"], order["RedeemCount"]) == (2, 1, 1, 0)
    refunds = await client.ok("QueryRefundInfo", {"MerchantTradeNo": trade_no})
    assert [(r["TicketNo"], r["RefundAmount"] + r["RefundFee"]) for r in refunds["RefundList"]] == [
        (first["TicketNo"], 500)
    ]

    today = business_date(datetime.now(UTC)).strftime("%Y%m%d")
    report = {"ReportType": 2, "BeginDate": today, "EndDate": today}
    csv = await client.ok("OrderDetail", report)
    assert csv["RtnCode"] == 1 and first["TicketNo"] in csv["CsvData"] and second["TicketNo"] in csv["CsvData"]
    # A second file within the minute (a new request: an identical one would be a replay of the first).
    later = await client.ok("OrderDetail", report, timestamp=int(time.time()) + 1)
    assert later["RtnCode"] == RtnCode.DOWNLOAD_RATE_LIMITED


async def test_a_gift_order_is_issued_and_used_over_http(client: HttpMerchant) -> None:
    trade_no = unique("GG")
    issue = {"FreeTradeNo": trade_no, "IssueType": "3", "Operator": "gw",
             "TicketInfo": [{"ItemNo": GIFT, "TicketAmount": 1}]}  # fmt: skip
    assert (await client.ok("Issue", issue))["RtnCode"] == RtnCode.SUCCESS
    [ticket] = (await client.issued({"FreeTradeNo": trade_no}))["TicketList"]
    used = await client.ok("WriteOff", {"WriteOffNo": ticket["WriteOffNo"], "Action": "1", "Operator": "gw"})
    assert used["RtnCode"] == RtnCode.SUCCESS


async def test_the_other_queries_answer_over_http(client: HttpMerchant) -> None:
    assert (await client.ok("EscrowDay", {}))["RtnCode"] == RtnCode.SUCCESS
    item = await client.ok("QueryItemInfo", {"ItemNo": PICKUP})
    assert (item["RtnCode"], item["ItemNo"]) == (1, PICKUP)
    items = await client.ok("BatchQueryItemInfo", {"PageNum": 1, "ItemStatus": "2"})
    assert items["RtnCode"] == 1 and {i["ItemNo"] for i in items["ItemList"]} == {PICKUP, GIFT}
    printing = await client.ok("QueryPrintData", {"MerchantTradeNo": unique("NP")})
    assert printing["RtnCode"] in (RtnCode.PRINTING_NOT_ENABLED, RtnCode.QUERY_NOT_FOUND)


async def test_an_identical_request_sent_again_gets_the_same_reply_and_acts_once(
    client: HttpMerchant, db: asyncpg.Pool
) -> None:
    [ticket] = await client.gift_tickets(GIFT, 1)
    envelope = client.envelope({"MerchantID": client.merchant_id, "WriteOffNo": ticket["WriteOffNo"], "Action": "1",
                                "Operator": "gw"})  # fmt: skip
    first = await client.post_json("/api/Ticket/WriteOff", envelope)
    replayed = await client.post_json("/api/Ticket/WriteOff", envelope)
    assert first.reply is not None and first.reply.rtn_code == RtnCode.SUCCESS
    assert (replayed.status, replayed.text) == (200, first.text)  # byte for byte, not "already written off"
    assert replayed.headers.get("x-replayed") == "true" and "x-replayed" not in first.headers
    # Decided once: one write-off event, and the platform saw the request's bytes once.
    events = await db.fetchval(
        "SELECT count(*) FROM redemption.outbox WHERE event_type = 'TicketWrittenOff' AND convert_from(value, 'UTF8')"
        " LIKE '%' || $1 || '%'",
        ticket["TicketNo"],
    )
    assert events == 1


async def test_a_replay_sent_while_the_first_is_still_in_flight_waits_for_the_same_reply(
    client: HttpMerchant,
) -> None:
    [ticket] = await client.gift_tickets(GIFT, 1)
    envelope = client.envelope({"MerchantID": client.merchant_id, "WriteOffNo": ticket["WriteOffNo"], "Action": "1",
                                "Operator": "gw"})  # fmt: skip
    answers = await asyncio.gather(*(client.post_json("/api/Ticket/WriteOff", envelope) for _ in range(3)))
    assert {a.text for a in answers} == {answers[0].text}
    assert answers[0].reply is not None and answers[0].reply.rtn_code == RtnCode.SUCCESS


async def test_health_and_readiness_answer(client: HttpMerchant) -> None:
    assert (await client.get("/health")).status == 200
    ready = await client.get("/ready")
    assert ready.status == 200 and ready.text and '"ready"' in ready.text
    document = await client.get("/openapi.json")
    assert document.status == 200 and "/api/Ticket/WriteOff" in document.text
