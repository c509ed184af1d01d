"""The query side over the real broker and database: a merchant reads back what it issued and what happened to it.

Every query is a sealed ECTicket request on the ingestion topic; its one reply is read from the reply topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.admin.seed import OTHER_MERCHANT, PLATFORM, TEST_MERCHANT
from shared.contracts.rtncodes import RtnCode
from shared.sandbox.merchant import MerchantClient, unique
from shared.sandbox.tap import Tap
from tests.support.orders import issue, issue_tickets, reply_data
from tests.support.pos import Pos
from tests.support.processes import Platform, ServiceProcess


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
    # The write-off's event and its reply leave together; the read model follows within a consumer batch.
    for _ in range(50):
        written = await ask(merchant, tap, "QueryTicketStatus", {"WriteOffNo": ticket["write_off_no"]})
        if written["UseStatus"] == 2:
            break
        await asyncio.sleep(0.1)
    assert (written["UseStatus"], written["TicketNo"]) == (2, ticket["ticket_no"])
    assert written["WriteOffDate"] != ""


async def test_print_data_lists_only_the_unused_tickets(merchant: MerchantClient, tap: Tap) -> None:
    order = await issue(merchant, tap, TEST_MERCHANT, {"PU000500": 2}, paid=1000)
    first, second = order["tickets"]
    assert (await Pos(merchant, tap, TEST_MERCHANT).write_off(first["write_off_no"]))["RtnCode"] == 1
    for _ in range(50):
        printed = await ask(merchant, tap, "QueryPrintData", {"MerchantTradeNo": order["merchant_trade_no"]})
        if len(printed["TicketList"]) == 1:
            break
        await asyncio.sleep(0.1)
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
