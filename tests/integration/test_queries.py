"""The query side over the real broker and database: a merchant reads back what it issued and what happened to it.

Every query is a sealed ECTicket request on the ingestion topic; its one reply is read from the reply topic.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.escrow_settlement.domain.payouts import settlement_day
from shared.admin.clocks import advance_clock
from shared.admin.seed import OTHER_MERCHANT, PLATFORM, TEST_MERCHANT
from shared.clock import business_date
from shared.contracts.rtncodes import RtnCode
from shared.ids import content_id
from shared.sandbox.merchant import MerchantClient, open_reply, unique
from shared.sandbox.tap import Seen, Tap
from shared.settings import Settings
from shared.topics import INGEST_REPLIES, INGEST_REQUESTS
from tests.support.merchants import GIFT, PICKUP, fresh_merchant
from tests.support.orders import issue, issue_tickets, reply_data
from tests.support.pos import Pos
from tests.support.processes import Platform, ServiceProcess, run_module


@pytest.fixture(scope="module", autouse=True)
async def query_service(platform: Platform) -> AsyncIterator[None]:
    """The query service, with the platform's settings (started here while the platform does not start it)."""
    if "query" in platform.services:
        yield
        return
    issuance = platform["issuance"]
    service = ServiceProcess("query", issuance.workdir, issuance.env)
    await service.start()
    try:
        yield
    finally:
        await service.stop()


async def ask(
    merchant: MerchantClient,
    tap: Tap,
    operation: str,
    data: dict[str, Any],
    *,
    merchant_id: str = TEST_MERCHANT,
    platform_id: str | None = None,
) -> dict[str, Any]:
    """Send a query for `merchant_id` and return its decrypted reply Data."""
    message = merchant.request(operation, {"MerchantID": merchant_id, **data}, merchant_id=merchant_id,
                               platform_id=platform_id)  # fmt: skip
    request_id = await merchant.send_request(message)
    return await reply_data(tap, request_id, platform_id or merchant_id)


async def test_a_merchant_that_lost_its_issue_reply_gets_its_tickets_back(merchant: MerchantClient, tap: Tap) -> None:
    order = await issue(merchant, tap, TEST_MERCHANT, {"PU000500": 2, "GF000030": 1}, paid=1000)
    trade_no = order["merchant_trade_no"]
    result = await ask(merchant, tap, "QueryIssueResult", {"MerchantTradeNo": trade_no})
    assert (result["RtnCode"], result["Status"], result["MerchantTradeNo"]) == (1, 1, trade_no)
    assert result["TicketTradeNo"] == order["ticket_trade_no"]
    issued = {(t["ticket_no"], t["write_off_no"]) for t in order["tickets"]}
    assert {(t["TicketNo"], t["WriteOffNo"]) for t in result["TicketList"]} == issued
    lines = {(line["ItemNo"], line["TicketPrice"], line["TicketAmount"]) for line in result["TicketData"]}
    assert lines == {("PU000500", 500, 2), ("GF000030", 0, 1)}


async def test_a_failed_issue_is_reported_with_its_reason(merchant: MerchantClient, tap: Tap) -> None:
    trade_no = unique("QF")
    data = {"MerchantID": TEST_MERCHANT, "FreeTradeNo": trade_no, "IssueType": "3", "Operator": "tester",
            "TicketInfo": [{"ItemNo": "PUOLD001", "TicketAmount": 1}]}  # fmt: skip
    await merchant.send_request(merchant.request("Issue", data, merchant_id=TEST_MERCHANT))
    await tap.wait_for(lambda s: s.type == "IssueFailed" and s.payload["free_trade_no"] == trade_no, seconds=30)
    result = await ask(merchant, tap, "QueryIssueResult", {"FreeTradeNo": trade_no})
    assert (result["RtnCode"], result["Status"], result["FreeTradeNo"]) == (1, 2, trade_no)
    assert result["Remark"] and "TicketList" not in result


async def test_a_ticket_reads_back_its_state_after_a_write_off(merchant: MerchantClient, tap: Tap) -> None:
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "PU000500", face=500)
    unused = await ask(merchant, tap, "QueryTicketStatus", {"TicketNo": ticket["ticket_no"], "WriteOffNo": ""})
    assert (unused["RtnCode"], unused["UseStatus"], unused["WriteOffNo"]) == (1, 1, ticket["write_off_no"])
    assert (unused["ItemNo"], unused["TicketAmount"], unused["WriteOffDate"]) == ("PU000500", 500, "")
    done = await Pos(merchant, tap, TEST_MERCHANT).write_off(ticket["write_off_no"])
    assert done["RtnCode"] == 1
    # Asked right after the write-off's reply: the query waits for the read model to apply the write-off's event.
    written = await ask(merchant, tap, "QueryTicketStatus", {"WriteOffNo": ticket["write_off_no"]})
    assert (written["UseStatus"], written["TicketNo"]) == (2, ticket["ticket_no"])
    assert written["WriteOffDate"] != ""


async def test_print_data_lists_only_the_unused_tickets(merchant: MerchantClient, tap: Tap) -> None:
    order = await issue(merchant, tap, TEST_MERCHANT, {"PU000500": 2}, paid=1000)
    first, second = order["tickets"]
    assert (await Pos(merchant, tap, TEST_MERCHANT).write_off(first["write_off_no"]))["RtnCode"] == 1
    printed = await ask(merchant, tap, "QueryPrintData", {"MerchantTradeNo": order["merchant_trade_no"]})
    assert [t["TicketNo"] for t in printed["TicketList"]] == [second["ticket_no"]]
    assert printed["TicketList"][0]["TicketPrice"] == 500


async def test_another_merchants_order_is_refused_exactly_like_a_missing_one(
    merchant: MerchantClient, tap: Tap
) -> None:
    order = await issue(merchant, tap, TEST_MERCHANT, {"PU000500": 1}, paid=500)
    [ticket] = order["tickets"]
    theirs = await ask(merchant, tap, "QueryIssueResult", {"MerchantTradeNo": order["merchant_trade_no"]},
                       merchant_id=OTHER_MERCHANT)  # fmt: skip
    missing = await ask(merchant, tap, "QueryIssueResult", {"MerchantTradeNo": unique("NO")},
                        merchant_id=OTHER_MERCHANT)  # fmt: skip
    assert theirs == missing | {"RtnCode": theirs["RtnCode"]} and theirs["RtnCode"] == RtnCode.QUERY_NOT_FOUND
    assert (theirs["RtnMsg"], set(theirs)) == (missing["RtnMsg"], {"RtnCode", "RtnMsg"})
    their_ticket = await ask(merchant, tap, "QueryTicketStatus", {"TicketNo": ticket["ticket_no"]},
                             merchant_id=OTHER_MERCHANT)  # fmt: skip
    assert their_ticket == missing


async def test_a_platform_asking_for_a_merchant_it_does_not_serve_is_refused_whether_the_order_exists_or_not(
    merchant: MerchantClient, tap: Tap
) -> None:
    order = await issue(merchant, tap, TEST_MERCHANT, {"PU000500": 1}, paid=500)
    existing = await ask(merchant, tap, "QueryIssueResult", {"MerchantTradeNo": order["merchant_trade_no"]},
                         platform_id=PLATFORM)  # fmt: skip
    missing = await ask(merchant, tap, "QueryIssueResult", {"MerchantTradeNo": unique("NO")}, platform_id=PLATFORM)
    assert existing == missing and existing["RtnCode"] == RtnCode.PLATFORM_NOT_AUTHORISED


async def test_an_orders_tickets_are_read_200_a_page(merchant: MerchantClient, tap: Tap) -> None:
    order = await issue(merchant, tap, TEST_MERCHANT, {"GF000030": 450})
    trade_no = order["free_trade_no"]
    pages = [
        await ask(merchant, tap, "QueryTicketStatus", {"FreeTradeNo": trade_no, "PageNum": n}) for n in (1, 2, 3, 4)
    ]
    assert [len(p["TicketList"]) for p in pages] == [200, 200, 50, 0]
    assert {(p["TotalCount"], p["TotalPage"]) for p in pages} == {(450, 3)}
    read = [t["TicketNo"] for p in pages for t in p["TicketList"]]
    assert read == [t["ticket_no"] for t in order["tickets"]]


async def test_order_info_counts_every_ticket_by_state_and_refund_info_lists_the_refunds_with_fees(
    merchant: MerchantClient, tap: Tap
) -> None:
    order = await issue(merchant, tap, TEST_MERCHANT, {"PU000500": 3}, paid=1500)
    trade_no = order["merchant_trade_no"]
    used, refunded, _unused = order["tickets"]
    pos = Pos(merchant, tap, TEST_MERCHANT)
    assert (await pos.write_off(used["write_off_no"]))["RtnCode"] == 1
    assert (await pos.refund(ticket_no=refunded["ticket_no"]))["RtnCode"] == 1
    info = await ask(merchant, tap, "QueryOrderInfo", {"MerchantTradeNo": trade_no})
    assert (info["RtnCode"], info["Status"], info["TicketTradeNo"], info["TotalCount"]) == (1, 1, trade_no, 3)
    assert (info["TradeAmount"], info["RedeemAmount"], info["UnUsedCount"], info["UnUsedAmount"]) == (1500, 500, 1, 500)
    assert (info["RefundAmount"], info["TotalRefundFee"]) == (450, 50)
    assert [t["UseStatus"] for t in info["TicketList"]] == [2, 3, 1]
    refunds = await ask(merchant, tap, "QueryRefundInfo", {"MerchantTradeNo": trade_no})
    assert (refunds["RtnCode"], refunds["RefundCount"], refunds["RefundAmount"], refunds["TotalRefundFee"]) == (
        1, 1, 450, 50,
    )  # fmt: skip
    assert [r["TicketNo"] for r in refunds["RefundList"]] == [refunded["ticket_no"]]


async def test_escrow_days_and_products_come_from_the_merchants_configuration(
    merchant: MerchantClient, tap: Tap
) -> None:
    assert (await ask(merchant, tap, "EscrowDay", {}))["EscrowDay"] == 90
    item = await ask(merchant, tap, "QueryItemInfo", {"ItemNo": "PU000500"})
    assert (item["RtnCode"], item["ItemName"], item["TicketPrice"], item["ItemStatus"]) == (
        1,
        "Afternoon tea set",
        500,
        "1",
    )
    theirs = await ask(merchant, tap, "QueryItemInfo", {"ItemNo": "PU000100"})  # OTHER_MERCHANT's coffee
    assert theirs["RtnCode"] == RtnCode.ITEM_UNKNOWN
    listed = await ask(merchant, tap, "BatchQueryItemInfo", {"PageNum": 1, "ItemStatus": "1"})
    assert listed["TotalCount"] == len(listed["ItemList"]) >= 2
    assert all(i["ItemStatus"] == "1" for i in listed["ItemList"]) and "PUOLD001" not in {
        i["ItemNo"] for i in listed["ItemList"]
    }
    delisted = await ask(merchant, tap, "BatchQueryItemInfo", {"PageNum": 1, "ItemStatus": 0})
    assert [i["ItemNo"] for i in delisted["ItemList"]] == ["PUOLD001"]


async def test_the_order_detail_file_lists_the_days_orders_and_tickets_once_a_minute(
    merchant: MerchantClient, tap: Tap, topics: Settings
) -> None:
    merchant_id = await fresh_merchant(topics, escrow_days=45)
    assert (await ask(merchant, tap, "EscrowDay", {}, merchant_id=merchant_id))["EscrowDay"] == 45
    order = await issue(merchant, tap, merchant_id, {GIFT: 2})
    today = business_date(datetime.now(UTC)).strftime("%Y%m%d")
    asked = {"ReportType": 2, "BeginDate": today, "EndDate": today}
    tickets = await ask(merchant, tap, "OrderDetail", asked, merchant_id=merchant_id)
    assert (tickets["RtnCode"], tickets["RowCount"], tickets["Truncated"]) == (1, 2, False)
    rows = list(csv.DictReader(io.StringIO(tickets["CsvData"])))
    assert [(r["FreeTradeNo"], r["TicketNo"], r["UseStatus"]) for r in rows] == [
        (order["free_trade_no"], t["ticket_no"], "1") for t in order["tickets"]
    ]
    again = await ask(merchant, tap, "OrderDetail", asked | {"ReportType": 1}, merchant_id=merchant_id)
    assert (again["RtnCode"], "CsvData" in again) == (RtnCode.DOWNLOAD_RATE_LIMITED, False)


async def payout_run_once_ended(day: date, merchant_id: str) -> None:
    """`cli payout-run` for the merchant's `day`, asked again until settlement has seen the day end (exit 2)."""
    args = (
        "-m",
        "services.escrow_settlement.cli",
        "payout-run",
        "--date",
        day.isoformat(),
        "--merchant-id",
        merchant_id,
    )
    for _ in range(50):
        code, output = await run_module(*args[1:])
        if code == 0:
            return
        assert code == 2 and "has not ended" in output, output
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the payout run for {day} stayed refused")


async def test_refund_info_shows_the_refund_transfer_the_bank_confirmed(
    merchant: MerchantClient, tap: Tap, topics: Settings
) -> None:
    merchant_id = await fresh_merchant(topics)  # a 10% refund fee
    today = settlement_day(datetime.now(UTC))
    order = await issue(merchant, tap, merchant_id, {PICKUP: 2}, paid=1000)
    trade_no, [returned, _kept] = order["merchant_trade_no"], order["tickets"]
    assert (await Pos(merchant, tap, merchant_id).refund(ticket_no=returned["ticket_no"]))["RtnCode"] == 1
    before = await ask(merchant, tap, "QueryRefundInfo", {"MerchantTradeNo": trade_no}, merchant_id=merchant_id)
    assert (before["RefundAmount"], before["TotalRefundFee"], before["BankConfirmedAmount"]) == (450, 50, 0)
    await advance_clock(topics, merchant_id, timedelta(days=1))  # the day ends: its refunds are sent to the bank
    await payout_run_once_ended(today, merchant_id)
    await tap.wait_for(
        lambda s: s.type == "TransferConfirmed" and s.payload["ticket_trade_no"] == order["ticket_trade_no"], seconds=30
    )
    after = await ask(merchant, tap, "QueryRefundInfo", {"MerchantTradeNo": trade_no}, merchant_id=merchant_id)
    assert after["BankConfirmedAmount"] == 450
    assert [(t["Amount"], t["Status"]) for t in after["BankTransferList"]] == [(450, "confirmed")]


async def test_cancelled_write_offs_and_refunds_read_back_as_unused_again(merchant: MerchantClient, tap: Tap) -> None:
    order = await issue(merchant, tap, TEST_MERCHANT, {"PU000500": 2}, paid=1000)
    trade_no, (first, second) = order["merchant_trade_no"], order["tickets"]
    pos = Pos(merchant, tap, TEST_MERCHANT)
    assert (await pos.write_off(first["write_off_no"]))["RtnCode"] == 1
    assert (await pos.write_off(first["write_off_no"], action="2"))["RtnCode"] == 1
    assert (await pos.refund(ticket_no=second["ticket_no"]))["RtnCode"] == 1
    assert (await pos.refund(ticket_no=second["ticket_no"], action="2"))["RtnCode"] == 1
    info = await ask(merchant, tap, "QueryOrderInfo", {"MerchantTradeNo": trade_no})
    assert [(t["UseStatus"], t["WriteOffDate"], t["RefundDate"]) for t in info["TicketList"]] == [(1, "", "")] * 2
    assert (info["UnUsedCount"], info["RedeemCount"], info["RefundCount"], info["TotalRefundFee"]) == (2, 0, 0, 0)
    refunds = await ask(merchant, tap, "QueryRefundInfo", {"MerchantTradeNo": trade_no})
    assert (refunds["RefundCount"], refunds["RefundList"]) == (0, [])


async def test_a_burst_of_queries_read_together_each_gets_its_own_answer(merchant: MerchantClient, tap: Tap) -> None:
    """Sent at once, the queries come in one consumer batch (or a few), which reads its orders and tickets set-wise:
    each still gets the answer it would get alone, another merchant's included."""
    order = await issue(merchant, tap, TEST_MERCHANT, {"PU000500": 2}, paid=1000)
    trade_no = order["merchant_trade_no"]
    first, second = order["tickets"]
    gift = await issue(merchant, tap, TEST_MERCHANT, {"GF000030": 1})
    burst: list[tuple[str, dict[str, Any], str]] = [
        ("QueryIssueResult", {"MerchantTradeNo": trade_no}, TEST_MERCHANT),
        ("QueryIssueResult", {"MerchantTradeNo": unique("NO")}, TEST_MERCHANT),
        ("QueryIssueResult", {"MerchantTradeNo": trade_no}, OTHER_MERCHANT),
        ("QueryIssueResult", {"FreeTradeNo": trade_no}, TEST_MERCHANT),  # a paid order's number as a gift one's
        ("QueryIssueResult", {"FreeTradeNo": gift["free_trade_no"]}, TEST_MERCHANT),
        ("QueryTicketStatus", {"TicketNo": first["ticket_no"], "WriteOffNo": second["write_off_no"]}, TEST_MERCHANT),
        ("QueryTicketStatus", {"WriteOffNo": second["write_off_no"]}, TEST_MERCHANT),
        ("QueryTicketStatus", {"TicketNo": first["ticket_no"]}, OTHER_MERCHANT),
        ("QueryTicketStatus", {"MerchantTradeNo": trade_no}, TEST_MERCHANT),
        ("QueryRefundInfo", {"MerchantTradeNo": trade_no}, TEST_MERCHANT),
        ("EscrowDay", {}, TEST_MERCHANT),
    ]
    messages = [merchant.request(op, {"MerchantID": who, **data}, merchant_id=who) for op, data, who in burst]
    sent = await asyncio.gather(*(merchant.send_request(m) for m in messages))
    got = [await reply_data(tap, request_id, who) for request_id, (_, _, who) in zip(sent, burst, strict=True)]
    result, missing, theirs, wrong_kind, gift_result, by_number, by_code, their_ticket, page, refunds, days = got
    assert (result["RtnCode"], result["Status"], len(result["TicketList"])) == (1, 1, 2)
    assert {t["WriteOffNo"] for t in result["TicketList"]} == {first["write_off_no"], second["write_off_no"]}
    assert missing["RtnCode"] == RtnCode.QUERY_NOT_FOUND and theirs == missing and wrong_kind == missing
    assert their_ticket == missing
    assert (gift_result["RtnCode"], gift_result["FreeTradeNo"], len(gift_result["TicketList"])) == (
        1, gift["free_trade_no"], 1)  # fmt: skip
    assert (by_number["TicketNo"], by_number["WriteOffNo"]) == (first["ticket_no"], first["write_off_no"])
    assert (by_code["TicketNo"], by_code["MerchantTradeNo"]) == (second["ticket_no"], trade_no)
    assert (page["TotalCount"], [t["TicketNo"] for t in page["TicketList"]]) == (
        2, [first["ticket_no"], second["ticket_no"]])  # fmt: skip
    assert (refunds["RtnCode"], refunds["RefundCount"], refunds["RefundList"]) == (1, 0, [])
    assert days["RtnCode"] == 1 and days["EscrowDay"] > 0


async def test_a_query_is_answered_by_the_consumer_itself_and_nothing_of_it_waits_in_the_outbox(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    """A query changes nothing that must be recorded before it is answered: its reply goes to Kafka from the
    consumer, acknowledged before the batch commits (services/query/replies_now.py), with no outbox row for the
    relay; a parked query answered later (here: after its order arrived) goes the same way."""
    before = await db.fetchval("SELECT count(*) FROM query.outbox WHERE topic = $1", INGEST_REPLIES)
    trade_no = unique("QN")
    parked = merchant.request("QueryIssueResult", {"MerchantID": TEST_MERCHANT, "FreeTradeNo": trade_no},
                              merchant_id=TEST_MERCHANT)  # fmt: skip
    parked_id = await merchant.send_request(parked)
    data = {"MerchantID": TEST_MERCHANT, "FreeTradeNo": trade_no, "IssueType": "3", "Operator": "tester",
            "TicketInfo": [{"ItemNo": "GF000030", "TicketAmount": 1}]}  # fmt: skip
    await merchant.send_request(merchant.request("Issue", data, merchant_id=TEST_MERCHANT))
    days = await ask(merchant, tap, "EscrowDay", {})
    answered = await reply_data(tap, parked_id, TEST_MERCHANT)
    assert days["RtnCode"] == 1
    assert answered["RtnCode"] in (RtnCode.SUCCESS, RtnCode.QUERY_NOT_FOUND)  # the Issue may lose the race
    after = await db.fetchval("SELECT count(*) FROM query.outbox WHERE topic = $1", INGEST_REPLIES)
    assert after == before


async def test_a_query_delivered_twice_is_answered_twice_under_one_reply_id_and_keeps_no_inbox_row(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    """A query decides nothing, so the query service keeps no inbox row for it (`Route.inbox`): the same bytes
    delivered again (a producer's retry, a redelivery after a crash) are answered again, under the reply id of the
    first answer, which every reader drops as a repeat. A write delivered twice is still decided once."""
    message = merchant.request("EscrowDay", {"MerchantID": TEST_MERCHANT}, merchant_id=TEST_MERCHANT)
    request_id = await merchant.send_request(message)

    def answered(s: Seen) -> bool:
        return s.type == "RequestReplied" and s.payload["request_id"] == request_id

    # Delivered again once the first was answered, as a redelivery is: two copies fetched in one batch are one
    # request to the consumer (`apply_items`), answered once under the same reply id.
    await tap.wait_for(answered)
    await merchant.send_request(message)
    replies = await tap.wait_for(answered, count=2)
    assert {s.envelope.event_id for s in replies} == {replies[0].envelope.event_id}
    assert [open_reply(s.payload["response"], TEST_MERCHANT)["RtnCode"] for s in replies] == [1, 1]
    body = json.dumps(message).encode()
    assert (
        await db.fetchval("SELECT count(*) FROM query.inbox WHERE message_id = $1", content_id(INGEST_REQUESTS, body))
        == 0
    )
